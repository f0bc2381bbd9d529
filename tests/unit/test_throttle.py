"""The local cloud's throughput cap per answer (issue 16): a token bucket."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance.testing.localcloud import throttle


class Clock:
    """A clock that only moves when slept on."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_no_cap_hands_the_pieces_on_as_they_come():
    assert list(throttle.capped(iter([b"a", b"bc"]), None)) == [b"a", b"bc"]


def test_a_cap_spreads_the_bytes_over_time():
    clock = Clock()
    pieces = [b"x" * 100] * 30
    sent = list(throttle.capped(iter(pieces), 1000, clock, clock.sleep))
    assert sent == pieces
    # 3000 bytes at 1000 B/s: the bucket starts empty, so even the first
    # piece waits its tenth of a second
    assert clock.now == pytest.approx(3.0)


def test_a_short_answer_is_capped_too():
    # 500 bytes at 10 000 B/s, less than the burst (a tenth of a second's
    # worth, 1000 bytes), as a Range answer of a parallel download: it still
    # takes its 0.05 s
    clock = Clock()
    list(throttle.capped(iter([b"x" * 100] * 5), 10_000, clock, clock.sleep))
    assert clock.now == pytest.approx(0.05)


def test_a_slow_consumer_is_not_slowed_more():
    clock = Clock()
    capped = throttle.capped(iter([b"x" * 100] * 5), 1000, clock, clock.sleep)
    for _ in capped:
        clock.now += 1.0  # the reader takes a second per piece
    # only the first piece waits (its own 0.1 s: the bucket starts empty)
    assert clock.slept == [pytest.approx(0.1)]


@given(rate=st.floats(1, 1e9), sizes=st.lists(st.integers(1, 10**6),
                                                min_size=1, max_size=50))
def test_the_rate_is_never_exceeded_beyond_the_burst(rate, sizes):
    clock = Clock()
    sent = 0
    burst = max(rate / 10, sizes[0])
    for piece in throttle.capped(iter(b"x" * n for n in sizes), rate, clock,
                                 clock.sleep):
        sent += len(piece)
        assert sent <= burst + clock.now * rate + 1e-6 * sent
        # the bucket starts empty: what has passed was paid for in time
        assert sent <= clock.now * rate * (1 + 1e-9) + 1e-6 * sent


def test_closing_closes_the_source():
    closed = []

    def source():
        try:
            yield b"a"
            yield b"b"
        finally:
            closed.append(True)

    capped = throttle.capped(source(), 10.0)
    next(capped)
    capped.close()
    assert closed == [True]


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError):
        throttle.TokenBucket(0, 1)
