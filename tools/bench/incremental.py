"""The ``incremental`` case: a full backup, 1 % changed, an incremental one.

The volume holds ``random`` data. After its full protect, the parent
overwrites :data:`FRACTION` of the volume's data (its first ``size`` bytes)
with random bytes in writes of one 4 KiB block each, at distinct
block-aligned offsets spread at random over the data (:func:`scattered_offsets`,
the same for the same seed), straight into the local cloud's file of the
volume (:func:`change_file`). Then it protects again with ``incremental``,
restores that backup and compares it with the changed volume.

What the incremental stored itself is read from its manifest
(:func:`backup_summary`): the ``stored_size`` of its records that are not
zero and have no ``source`` (those live in another backup).
"""

import fractions
import math
import os
import random

#: The case's name, as ``--pattern`` takes it.
NAME = "incremental"
#: The data the volume starts with.
DATA_PATTERN = "random"
#: Size and alignment of each write.
BLOCK = 4096
#: The share of the data's bytes overwritten between the two protects.
FRACTION = 0.01
#: Seeds the offsets and the new bytes (the pattern's data uses seed 0).
SEED = 1
#: The incremental should store at most this share of the data.
TARGET_RATIO = 0.02


def change_count(data_size, fraction=FRACTION, block=BLOCK):
    """How many blocks make ``fraction`` of ``data_size`` bytes (rounded up).

    At most the whole blocks in ``data_size``.
    """
    wanted = math.ceil(fractions.Fraction(str(fraction)) * data_size / block)
    return min(data_size // block, wanted)


def scattered_offsets(data_size, fraction=FRACTION, seed=SEED, block=BLOCK):
    """Ascending, distinct, ``block``-aligned offsets of whole blocks within
    ``data_size``: :func:`change_count` of them, chosen at random by ``seed``.

    Holds only the chosen offsets (``random.sample`` of a ``range`` does not
    build the range).
    """
    blocks = data_size // block
    chosen = random.Random(seed).sample(range(blocks),
                                        change_count(data_size, fraction, block))
    return sorted(index * block for index in chosen)


def change_file(path, data_size, fraction=FRACTION, seed=SEED, block=BLOCK):
    """Overwrite the blocks of :func:`scattered_offsets` in the file at ``path``
    with random bytes (seeded), one block per write, then fsync.

    The file is neither truncated nor grown. Returns the bytes written.
    """
    offsets = scattered_offsets(data_size, fraction, seed, block)
    data = random.Random(f"{seed}-data")
    with open(path, "r+b") as stream:
        size = os.fstat(stream.fileno()).st_size
        if offsets and offsets[-1] + block > size:
            raise ValueError(f"{path} holds {size} bytes, fewer than the "
                             f"{data_size} to change")
        for offset in offsets:
            os.pwrite(stream.fileno(), data.randbytes(block), offset)
        os.fsync(stream.fileno())
    return len(offsets) * block


def backup_summary(manifest):
    """What a protect's manifest says of the backup it made.

    ``stored_bytes``: the sum of ``stored_size`` of the records the backup
    stored itself (not zero, no ``source``); ``referenced_chunks``: records
    in another backup; ``delta_chunks``: own records stored as deltas.
    """
    chunks = manifest.get("chunks") or []
    own = [record for record in chunks
           if not record.get("zero") and "source" not in record]
    return {
        "incremental": bool(manifest.get("incremental")),
        "parent_checkpoint_id": manifest.get("parent_checkpoint_id"),
        "full_reason": manifest.get("full_reason"),
        "stored_bytes": sum(record["stored_size"] for record in own),
        "chunks": len(chunks),
        "zero_chunks": sum(1 for record in chunks if record.get("zero")),
        "referenced_chunks": sum(1 for record in chunks if "source" in record),
        "delta_chunks": sum(1 for record in own if "base" in record),
    }
