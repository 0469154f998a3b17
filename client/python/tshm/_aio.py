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
  the stop flag within SLICE_S and exits (no thread outlives its await by
  more than that).
- One thread per waiting await, not the loop's default executor (a few
  workers): 100 concurrent awaits each have their own, so none waits for
  another's turn. An await that finds its source ready at once starts none.
"""

import asyncio
import math
import threading
import time

from tshm import _tshm

# How long a waiter thread sleeps in wait_any() before it looks at its stop
# flag: the bound on how long it outlives a cancelled await.
SLICE_S = 0.05


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


async def _ready(sources, deadline):
    """Return once one of `sources` is ready or `deadline` passed; raise what
    wait_any() raised (ClosedError, ...). Cancellable at once."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    stop = threading.Event()
    th = threading.Thread(
        target=_waiter, args=(loop, fut, sources, deadline, stop), name="tshm-aio-wait", daemon=True
    )
    th.start()
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
