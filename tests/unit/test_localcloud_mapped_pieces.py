"""An image's bytes as views of its mapped file (issue 16).

:func:`~karbor_volume_glance.testing.localcloud.datafiles.mapped_pieces`
gives what ``read_pieces`` gives (the same pieces, the same bytes) for any
offset, length and piece size, whatever the file's mapping granularity, and
the views cannot be written through.
"""

import mmap
import os
import random
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance.testing.localcloud import datafiles

PAGE = mmap.ALLOCATIONGRANULARITY
DATA = random.Random(16).randbytes(5 * PAGE + 1234)


@pytest.fixture(scope="module")
def path():
    with tempfile.TemporaryDirectory() as directory:
        name = os.path.join(directory, "image")
        with open(name, "wb") as stream:
            stream.write(DATA)
        yield name


@given(offset=st.integers(min_value=0, max_value=len(DATA) + 10),
       length=st.integers(min_value=0, max_value=len(DATA) + 10),
       piece=st.sampled_from([1, 7, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 5,
                              datafiles.PIECE]))
def test_mapped_pieces_are_read_pieces(path, offset, length, piece):
    stream = open(path, "rb")
    mapped = list(datafiles.mapped_pieces(stream, offset, length, piece))
    assert stream.closed
    with open(path, "rb") as again:
        read = list(datafiles.read_pieces(again, offset, length, piece))
    assert [bytes(view) for view in mapped] == read
    assert b"".join(read) == DATA[offset:offset + length]
    assert all(view.readonly for view in mapped)


def test_a_piece_outlives_its_file_and_its_answer(path):
    pieces = datafiles.mapped_pieces(open(path, "rb"), PAGE + 3, 2 * PAGE, PAGE)
    first = next(pieces)
    pieces.close()  # the answer ends (its file closes) before the piece is sent
    assert bytes(first) == DATA[PAGE + 3:2 * PAGE + 3]


def test_closing_before_the_first_piece_closes_the_file(path):
    stream = open(path, "rb")
    pieces = datafiles.mapped_pieces(stream, 0, len(DATA))
    next(pieces)
    pieces.close()
    assert stream.closed


def test_the_data_files_serve_images_mapped(path):
    pieces = datafiles.DataFiles.read_pieces(open(path, "rb"), 10, 100)
    (view,) = list(pieces)
    assert isinstance(view.obj, mmap.mmap) and bytes(view) == DATA[10:110]
