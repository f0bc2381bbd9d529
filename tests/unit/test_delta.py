"""Delta objects: changed blocks, the encoded layout, sizes, patching, and
every damaged delta that apply refuses."""

import random
import struct

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import delta

BS = 4096
LENGTH = 3 * BS + 1001  # four blocks, the last one short
LAST = 3
NAME = "data_3"


def naive_changed(base, new, block_size):
    return [i for i in range(0, -(-len(base) // block_size))
            if base[i * block_size:(i + 1) * block_size]
            != new[i * block_size:(i + 1) * block_size]]


def touch(data, blocks, block_size):
    """``data`` with the first and last byte of each of ``blocks`` flipped."""
    out = bytearray(data)
    for index in blocks:
        start = index * block_size
        end = min(start + block_size, len(data))
        out[start] ^= 0xFF
        out[end - 1] ^= 0x55
    return bytes(out)


def round_trip(base, new, block_size):
    blocks = delta.changed_blocks(base, new, block_size)
    encoded = delta.encode(new, blocks, block_size)
    assert len(encoded) == delta.size_of(len(new), blocks, block_size)
    assert struct.unpack_from(">I", encoded, 12) == (len(blocks),)  # the count
    assert delta.apply(NAME, base, encoded, len(new), block_size) == new
    return blocks, encoded


@pytest.fixture(scope="module")
def base():
    return random.Random(1).randbytes(LENGTH)


@pytest.mark.parametrize("blocks", [[], [1], [0, LAST], [LAST], [0, 1, 2, LAST]],
                         ids=["no change", "one block", "first and last",
                              "short last block", "all blocks"])
def test_deltas_round_trip(base, blocks):
    new = touch(base, blocks, BS)
    found, encoded = round_trip(base, new, BS)
    assert found == blocks
    stored = sum(min(BS, LENGTH - i * BS) for i in blocks)
    assert len(encoded) == 24 + 4 * len(blocks) + stored


@pytest.mark.parametrize("position", [0, BS - 1, BS, 2 * BS - 1, 3 * BS, LENGTH - 1])
def test_a_byte_changes_the_block_it_is_in_and_no_other(base, position):
    new = bytearray(base)
    new[position] ^= 1
    blocks, _ = round_trip(base, bytes(new), BS)
    assert blocks == [position // BS]


def test_the_layout_is_the_documented_one():
    new = b"abcdefghij"  # blocks of 4: abcd efgh ij
    assert delta.encode(new, [0, 2], block_size=4) == (
        b"KVGDELTA"
        + b"\x00\x00\x00\x04"  # block size
        + b"\x00\x00\x00\x02"  # count
        + b"\x00\x00\x00\x00\x00\x00\x00\x0a"  # chunk length
        + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x02"  # indices
        + b"abcd" + b"ij")


@pytest.mark.parametrize("seed", range(40))
def test_changed_blocks_matches_a_block_by_block_comparison(seed):
    rng = random.Random(seed)
    # multiples of 8 go through the word comparison, the others byte by byte;
    # enough blocks for several spans of 64
    block_size = rng.choice([1, 3, 8, 16, 24, 100, BS])
    blocks = rng.randrange(1, 300 if block_size < BS else 5)
    length = max(1, blocks * block_size - rng.randrange(block_size))
    base = rng.randbytes(length)
    new = bytearray(base)
    for _ in range(rng.choice([0, 1, 3, 30])):
        new[rng.randrange(length)] ^= rng.randrange(1, 256)
    new = bytes(new)
    expected = naive_changed(base, new, block_size)
    blocks, _ = round_trip(base, new, block_size)
    assert blocks == expected


@pytest.mark.parametrize("block_size", [16, BS])
@pytest.mark.parametrize("tail", range(1, 8))
def test_a_change_past_the_last_whole_word_is_found(block_size, tail):
    length = 3 * block_size + tail
    base = bytes(length)
    new = bytes(length - 1) + b"\x01"
    assert delta.changed_blocks(base, new, block_size) == [3]


def test_changed_blocks_on_a_mebibyte_with_the_default_block_size():
    rng = random.Random(7)
    base = rng.randbytes(1 << 20)
    assert delta.changed_blocks(base, bytes(bytearray(base))) == []
    picked = sorted(rng.sample(range(256), 5))
    new = touch(base, picked, delta.BLOCK_SIZE)
    blocks, _ = round_trip(base, new, delta.BLOCK_SIZE)
    assert blocks == picked


def test_any_bytes_like_will_do_even_unaligned(base):
    new = touch(base, [2], BS)
    padded = bytearray(b"x" + new)
    view = memoryview(padded)[1:]  # starts at an odd address
    assert delta.changed_blocks(bytearray(base), view, BS) == [2]
    encoded = delta.encode(view, [2], BS)
    assert delta.apply(NAME, memoryview(base), bytearray(encoded), LENGTH, BS) == new


def test_changed_blocks_needs_two_chunks_of_the_same_length(base):
    with pytest.raises(ValueError, match="same length"):
        delta.changed_blocks(base, base[:-1], BS)


@pytest.mark.parametrize("blocks, reason", [
    ([1, 0], "not strictly ascending: 0 after 1"),
    ([1, 1], "not strictly ascending: 1 after 1"),
    ([LAST + 1], "out of range"),
    ([-1], "out of range"),
])
def test_encode_and_size_of_refuse_bad_block_lists(base, blocks, reason):
    with pytest.raises(ValueError, match=reason):
        delta.encode(base, blocks, BS)
    with pytest.raises(ValueError, match=reason):
        delta.size_of(LENGTH, blocks, BS)


def test_apply_leaves_base_alone_and_returns_new_bytes(base):
    mutable = bytearray(base)
    new = touch(base, [0, LAST], BS)
    patched = delta.apply(NAME, mutable, delta.encode(new, [0, LAST], BS),
                          LENGTH, BS)
    assert type(patched) is bytes and patched == new
    assert mutable == base


# --- damaged deltas ---------------------------------------------------------


@pytest.fixture(scope="module")
def good(base):
    """A delta of blocks 1 and 3 (the short one)."""
    return delta.encode(touch(base, [1, LAST], BS), [1, LAST], BS)


def with_field(data, fmt, offset, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return out


def assert_refused(reason, base, damaged, length=LENGTH, block_size=BS):
    with pytest.raises(exceptions.ChunkIntegrityError) as caught:
        delta.apply(NAME, base, damaged, length, block_size)
    assert caught.value.chunk == NAME
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"chunk {NAME}: ")


def test_the_good_delta_applies(base, good):
    assert delta.apply(NAME, base, good, LENGTH, BS) == touch(base, [1, LAST], BS)


def test_a_delta_shorter_than_its_header(base, good):
    assert_refused("delta is 23 bytes, shorter than its 24-byte header",
                   base, good[:23])


def test_a_delta_with_the_wrong_magic(base, good):
    assert_refused("does not start with b'KVGDELTA' but with b'KVGDELTX'",
                   base, b"KVGDELTX" + good[8:])


def test_a_delta_of_another_block_size(base, good):
    assert_refused("delta has 2048-byte blocks, expected 4096",
                   base, with_field(good, ">I", 8, 2048))


def test_a_delta_for_another_chunk_length(base, good):
    assert_refused(f"delta is for a {LENGTH + 1}-byte chunk, the manifest "
                   f"says {LENGTH}", base, with_field(good, ">Q", 16, LENGTH + 1))


def test_a_base_of_the_wrong_length(base, good):
    assert_refused(f"base chunk is {LENGTH - 1} bytes, the manifest says {LENGTH}",
                   base[:-1], good)


@pytest.mark.parametrize("damage", [
    lambda good: good[:24 + 4],  # one index of two
    lambda good: with_field(good, ">I", 12, 2000),  # a count beyond the delta
], ids=["cut in the table", "count too large"])
def test_a_truncated_index_table(base, good, damage):
    assert_refused("delta index table is cut short", base, damage(good))


@pytest.mark.parametrize("second, reason", [
    (0, "not strictly ascending: 0 after 1"),
    (1, "not strictly ascending: 1 after 1"),
    (LAST + 1, f"block index {LAST + 1} is out of range"),
])
def test_bad_indices(base, good, second, reason):
    assert_refused(reason, base, with_field(good, ">I", 28, second))


def test_truncated_delta_data(base, good):
    assert_refused("delta data is truncated", base, good[:-1])


def test_trailing_bytes_after_the_delta_data(base, good):
    assert_refused("delta data has 1 trailing bytes", base, good + b"\x00")


def test_data_sized_for_other_indices(base, good):
    # blocks 1 and 2 need 2 whole blocks: the data holds 1 whole and 1 short
    assert_refused("delta data is truncated", base, with_field(good, ">I", 28, 2))
