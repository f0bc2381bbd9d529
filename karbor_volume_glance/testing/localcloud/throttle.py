"""A throughput cap per response stream: a token bucket.

:func:`capped` hands on the pieces of one answer no faster than ``rate``
bytes per second, as a Glance behind a store that serves one stream slowly
(an S3 or Swift backend) would; each answer has its own bucket, so several
concurrent answers get ``rate`` each. The bucket holds at most ``burst``
bytes (a tenth of a second's worth, at least one piece) and starts empty,
so that no answer, however short, goes faster than ``rate``: a parallel
download's Range requests are answers of a few MiB each, and a bucket
starting full would let a whole range pass at once (with a 100 MiB/s cap,
10 MiB free per answer). A piece waits, with :func:`time.sleep`, until the
bucket holds it; a reader that falls behind may then take up to ``burst``
at once. Used by
the HTTP door (``LocalCloud(stream_cap=...)``, ``--stream-cap``) so that the
benefit of parallel ranged downloads can be measured on one machine.
"""

import time


class TokenBucket:
    """``rate`` bytes per second, up to ``burst`` at once."""

    def __init__(self, rate, burst, clock=time.monotonic, sleep=time.sleep,
                 tokens=0.0):
        if not rate > 0:
            raise ValueError(f"rate must be above 0, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self.sleep = sleep
        self.tokens = min(float(tokens), self.burst)
        self.stamp = clock()

    def take(self, count):
        """Wait until ``count`` bytes may pass, then let them."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= count
        if self.tokens < 0:  # in debt: wait until it is paid back
            self.sleep(-self.tokens / self.rate)


def capped(pieces, rate, clock=time.monotonic, sleep=time.sleep):
    """The pieces of one answer at no more than ``rate`` bytes per second
    (None: as they come). Closing it closes ``pieces``."""
    if rate is None:
        yield from pieces
        return
    bucket = None
    try:
        for piece in pieces:
            if bucket is None:
                bucket = TokenBucket(rate, max(rate / 10, len(piece)), clock,
                                     sleep)
            bucket.take(len(piece))
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
