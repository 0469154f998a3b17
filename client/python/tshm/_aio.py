"""asyncio for tshm: Segment/Stream/Subscriber.wait_async() and
Subscriber.take_async() (the C methods return these coroutines).

How an await waits without blocking the event loop:
- It first makes the call it stands for with timeout 0 on the loop thread
  (wait(after_seq, 0), take(timeout=0)); that never blocks.
- Else a thread of its own waits with tshm.wait_any() (the GIL released)
  until the source is ready, the deadline passes or the await is given up,
  and tells the loop (call_soon_threadsafe); the coroutine then makes the
  call again with timeout 0, on the loop, and waits again if it still finds
  nothing (a frame overwritten meanwhile, a spurious wake-up).
- The frame is only ever taken on the loop thread, inside the coroutine, so
  a task cancelled while it awaits has taken nothing: the frame stays the
  subscriber's next. Cancellation ends the await at once; its thread sees
  the stop flag within SLICE_S and goes back to the pool.
- A thread per waiting await, from a pool of this module's own (not the
  loop's default executor, whose few workers would make the 7th await wait
  for one of the first 6 to end): the pool grows to as many threads as
  awaits wait at once, so 100 concurrent awaits each have one and none
  waits for another's turn. A thread whose await ended goes back to the
  pool and exits after IDLE_S without work, so nothing stays after a burst.
  Starting a thread blocks its caller until the thread runs (up to
  milliseconds on a loaded host), which the pool spares the loop in the
  steady state. An await that finds its source ready at once needs none.
"""

import asyncio
import math
import os
import queue
import threading
import time

from tshm import _tshm

# How long a waiter thread sleeps in wait_any() before it looks at its stop
# flag: the bound on how long it stays busy after its await was cancelled.
SLICE_S = 0.05
# How long an idle waiter thread waits for another await before it exits.
IDLE_S = 5.0


def _deadline(timeout):
    """The time.monotonic() deadline of `timeout` seconds (None: forever)."""
    if timeout is None:
        return None
    try:
        t = float(timeout)
    except (TypeError, ValueError):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        ) from None
    if math.isnan(t) or t < 0:
        err = _tshm.InvalidError(f"timeout must be >= 0 seconds or None (forever), not {timeout!r}")
        err.code = -22
        raise err
    return None if math.isinf(t) else time.monotonic() + t


def _expired(deadline):
    return deadline is not None and time.monotonic() >= deadline


def _retimed(err, timeout):
    """`err`, a TimeoutError from a call with timeout 0, saying `timeout`."""
    msg = str(err).replace("within 0 s", f"within {timeout:g} s")
    new = type(err)(msg)
    # As the extension makes them (errors.c): .code, and the errno of an
    # OSError (strerror left unset, so str() is the message).
    new.code = err.code
    new.errno = err.errno
    return new


def _settle(fut, exc):
    if not fut.done():
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


def _waiter(loop, fut, sources, deadline, stop):
    """A waiter thread: wait_any() in slices until ready, the deadline, an
    error, or `stop`; then tell the loop (unless stopped)."""
    exc = None
    try:
        while not stop.is_set():
            t = SLICE_S
            if deadline is not None:
                t = min(t, max(0.0, deadline - time.monotonic()))
            try:
                _tshm.wait_any(sources, t)
                break
            except _tshm.TimeoutError:
                if _expired(deadline):
                    break
    except BaseException as e:  # handed to the awaiting coroutine
        exc = e
    if stop.is_set():
        return
    try:
        loop.call_soon_threadsafe(_settle, fut, exc)
    except RuntimeError:
        pass  # the loop was closed meanwhile: nobody awaits any more


class _Worker(threading.Thread):
    """A waiter thread of the pool: runs one job at a time from its queue,
    then waits IDLE_S for another on the idle list, and exits without."""

    def __init__(self):
        super().__init__(name="tshm-aio-wait", daemon=True)
        self.jobs = queue.SimpleQueue()

    def run(self):
        while True:
            try:
                job = self.jobs.get(timeout=IDLE_S)
            except queue.Empty:
                with _pool_lock:
                    if self in _idle:
                        # Nobody picked us meanwhile (_submit pops under the
                        # same lock, then puts): leave.
                        _idle.remove(self)
                        return
                continue  # picked just now: the job is on its way
            try:
                job()
            except BaseException:  # _waiter hands its errors on; keep the thread
                pass
            with _pool_lock:
                _idle.append(self)


_pool_lock = threading.Lock()
_idle = []  # idle _Workers, the last to finish last (the warmest first)


def _forked():
    """In a child of fork() only the forking thread exists: forget the
    parent's workers (and a lock one of them may have held)."""
    global _pool_lock
    _pool_lock = threading.Lock()
    _idle.clear()


os.register_at_fork(after_in_child=_forked)


def _submit(job):
    with _pool_lock:
        w = _idle.pop() if _idle else None
    if w is None:
        w = _Worker()
        w.start()
    w.jobs.put(job)


def busy_threads():
    """The pool's threads that are waiting for an await now (for tests)."""
    with _pool_lock:
        idle = set(_idle)
    return [t for t in threading.enumerate() if isinstance(t, _Worker) and t not in idle]


async def _ready(sources, deadline):
    """Return once one of `sources` is ready or `deadline` passed; raise what
    wait_any() raised (ClosedError, ...). Cancellable at once."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    stop = threading.Event()
    _submit(lambda: _waiter(loop, fut, sources, deadline, stop))
    try:
        await fut
    finally:
        stop.set()


async def wait_async(src, after_seq, timeout=None):
    """src.wait(after_seq, timeout) as a coroutine (Segment, Stream,
    Subscriber)."""
    deadline = _deadline(timeout)
    while True:
        try:
            return src.wait(after_seq, 0)
        except _tshm.TimeoutError as e:
            if _expired(deadline):
                raise _retimed(e, timeout) from None
        await _ready([(src, after_seq)], deadline)


async def take_async(sub, timeout=None):
    """sub.take(timeout) as a coroutine: the Frame."""
    deadline = _deadline(timeout)
    while True:
        try:
            return sub.take(0)
        except _tshm.TimeoutError as e:
            if _expired(deadline):
                raise _retimed(e, timeout) from None
        await _ready([sub], deadline)
