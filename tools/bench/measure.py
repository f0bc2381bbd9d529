"""What the parent measures and checks around a case, outside the child.

- the source volume: the pattern streamed into a Glance image, a volume
  created from it (as ``karbor-volume-glance demo`` does);
- ``stored_bytes``: the sizes of the chunk files (``data_*``) in the bank
  directory's section of the volume in the checkpoint;
- ``restore_exact``: the sha256 of both volumes' data files;
- ``raw_read_seconds``: the volume uploaded to a temporary image, then only
  the download of that image (``images.data(id, do_checksum=False)``) timed,
  its bytes dropped;
- ``raw_write_seconds``: the volume's bytes written as files of one bank
  object each into a scratch directory the way the file bank writes (temporary
  file, fsync, rename, directory fsync); reading the source is not timed.
"""

import hashlib
import math
import os
import shutil
import time

from karbor_volume_glance.bank.file import OBJECTS_DIRECTORY
from karbor_volume_glance.datapath import IterableReader
from tools.bench.patterns import pattern_pieces

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK_PREFIX = "data_"


def volume_gib(size):
    """The volume size in GiB that holds ``size`` bytes."""
    return max(1, math.ceil(size / GiB))


def create_source_volume(cloud, pattern, size, name):
    """A volume holding ``size`` bytes of ``pattern``, made through an image."""
    image_id = cloud.create_image(f"{name}-image", "raw", "bare")
    try:
        cloud.upload_image(image_id, IterableReader(pattern_pieces(pattern, size)),
                           size)
        cloud.wait_image(image_id)
        volume_id = cloud.create_volume(volume_gib(size), name, image_id=image_id)
        cloud.wait_volume(volume_id)
    finally:
        cloud.delete_image(image_id)
    return volume_id


def section_directory(bank_path, checkpoint_id, volume_id):
    """Where the file bank keeps the volume's section of the checkpoint."""
    return os.path.join(bank_path, OBJECTS_DIRECTORY, "checkpoints", checkpoint_id,
                        "resource-data", volume_id)


def stored_chunk_bytes(directory):
    """Bytes of the chunk object files (``data_*``) under ``directory``."""
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name.startswith(CHUNK_PREFIX):
                total += os.path.getsize(os.path.join(root, name))
    return total


def file_sha256(path, piece=4 * MiB):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for data in iter(lambda: stream.read(piece), b""):
            digest.update(data)
    return digest.hexdigest()


def raw_read(cloud, volume_id):
    """``(seconds, bytes)`` of downloading a temporary image of the volume."""
    image_id = cloud.upload_volume_to_image(volume_id, "bench-raw-read")
    try:
        cloud.wait_image(image_id)
        cloud.wait_volume(volume_id)
        start = time.perf_counter()
        size = sum(map(len, cloud.glance.images.data(image_id, do_checksum=False)))
        return time.perf_counter() - start, size
    finally:
        cloud.delete_image(image_id)


def write_durably(directory, name, data):
    """Write ``data`` to ``directory/name`` as the file bank writes an object."""
    path = os.path.join(directory, name)
    temporary = f"{path}~tmp"
    with open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def raw_write(source_path, directory, object_size):
    """``(seconds, bytes)`` of writing the source file's bytes in object files.

    Only the writes are timed; ``directory`` is removed afterwards.
    """
    os.makedirs(directory)
    seconds = size = 0
    try:
        with open(source_path, "rb") as source:
            for index, data in enumerate(
                    iter(lambda: source.read(object_size), b"")):
                start = time.perf_counter()
                write_durably(directory, f"{CHUNK_PREFIX}{index + 1}", data)
                seconds += time.perf_counter() - start
                size += len(data)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return seconds, size
