"""The data a benchmark volume holds: four patterns, generated piece by piece.

``random``
    incompressible bytes from a seeded PRNG.
``zeros``
    nothing but zeros (the local cloud keeps them as holes).
``half-zeros``
    4 MiB of random bytes, then 4 MiB of zeros, and so on.
``text``
    English-like text: pairs of words drawn by a seeded PRNG from a fixed list
    of common words, with some commas and full stops. The first
    :data:`TEXT_POOL` bytes are drawn word by word; after that the text is cut
    from random places of those bytes (quicker than drawing words, and too far
    apart for a compressor's window to notice).

Every generator yields pieces of at most :data:`BLOCK` bytes, ``size`` bytes in
all, the same bytes for the same seed.
"""

import array
import itertools
import random

MiB = 1024 * 1024
BLOCK = 4 * MiB
TEXT_POOL = 64 * MiB
#: Lengths of the slices later text is made of.
TEXT_SLICE_MIN, TEXT_SLICE_MAX = 4096, 65536

PATTERNS = ("random", "zeros", "half-zeros", "text")

#: 256 common English words, so that two random bytes pick a pair of them.
WORDS = """
the of and to in is was that for it with as his on be at by had are but from or
have an they which one you were her all she there would their we him been has
when who will more no if out so said what up its about into than them can only
other new some could time these two may then do first any my now such like our
over man me even most made after also did many before must through back years
where much your way well down should because each just those people how too
little state good very make world still own see men work long get here between
both life being under never day same another know while last might us great old
year off come since against go came right used take three states himself few
house use during without again place american around however home small found
thought went say part once general high upon school every don does got united
left number course war until always away something fact though water less
public put think almost hand enough far took head yet government system better
set told nothing night end why called didn eyes find going look asked later
knew point next city business give group toward young let room president side
social present several order national possible rather second face per among
form important often things looked early white john case become large big need
four within felt along children saw best
""".split()

_ZERO_BLOCK = bytes(BLOCK)


def _pair_table(words):
    """Every ordered pair of words as bytes, some ending a clause or a sentence."""
    table = []
    for first, second in itertools.product(words, repeat=2):
        index = len(table)
        ending = ". " if index % 13 == 0 else ", " if index % 7 == 0 else " "
        table.append(f"{first} {second}{ending}".encode("ascii"))
    return table


_PAIRS = _pair_table(WORDS)  # 65536 pairs: any 16-bit number picks one


def _random_blocks(rng):
    while True:
        yield rng.randbytes(BLOCK)


def _zero_blocks(rng):
    return itertools.repeat(_ZERO_BLOCK)


def _half_zero_blocks(rng):
    while True:
        yield rng.randbytes(BLOCK)
        yield _ZERO_BLOCK


def word_text(rng, length):
    """``length`` bytes of word pairs drawn from the table by ``rng``."""
    shortest = min(map(len, _PAIRS))
    indexes = array.array("H", rng.randbytes(2 * (length // shortest + 1)))
    return b"".join(map(_PAIRS.__getitem__, indexes))[:length]


def resliced_text(rng, pool, length):
    """``length`` bytes made of slices of ``pool`` from random places."""
    pieces, total = [], 0
    while total < length:
        size = min(rng.randint(TEXT_SLICE_MIN, TEXT_SLICE_MAX), length - total)
        start = rng.randrange(len(pool) - size + 1)
        pieces.append(pool[start:start + size])
        total += size
    return b"".join(pieces)


def _text_blocks(rng):
    pool = bytearray()
    while len(pool) < TEXT_POOL:
        block = word_text(rng, BLOCK)
        pool += block
        yield block
    pool = bytes(pool)
    while True:
        yield resliced_text(rng, pool, BLOCK)


_BLOCKS = {
    "random": _random_blocks,
    "zeros": _zero_blocks,
    "half-zeros": _half_zero_blocks,
    "text": _text_blocks,
}


def pattern_pieces(pattern, size, seed=0):
    """Yield ``size`` bytes of ``pattern`` in pieces of at most BLOCK bytes."""
    if pattern not in _BLOCKS:
        raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")
    blocks = _BLOCKS[pattern](random.Random(seed))
    left = size
    while left > 0:
        block = next(blocks)
        yield block[:left] if left < len(block) else block
        left -= len(block)
