"""Work on a stream's items in parallel, keep their order, bound the memory.

:func:`ordered_map` is what both directions need: protect hashes, compresses
and stores chunks in a thread pool while the next ones are downloaded;
restore fetches, decompresses and checks chunks ahead while earlier ones are
sent to Glance. At most ``parallelism`` items are in the pool at a time (the
source is not read further until the oldest is done), so memory stays about
``parallelism`` chunks whatever the stream's length. Threads suit this work:
hashlib, zlib, zstandard and file and network I/O release the GIL.
"""

import collections
import concurrent.futures


def ordered_map(func, items, parallelism):
    """Yield ``func(item)`` for each item, in the items' order.

    The first exception raised by ``func`` is raised when its item's turn
    comes; work not yet started is cancelled and the pool is shut down, also
    when the consumer stops iterating early.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, got {parallelism}")
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=parallelism, thread_name_prefix="kvg-chunk")
    pending = collections.deque()
    try:
        for item in items:
            if len(pending) >= parallelism:
                yield pending.popleft().result()
            pending.append(pool.submit(func, item))
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
