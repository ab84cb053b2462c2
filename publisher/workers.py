"""Worker processes for a build: a forked pool that maps a function over many items, and a
helper forked ahead of time to get slow set-up done while the caller works on something else.

Both fork, so children inherit the caller's loaded modules and state instead of receiving them
pickled; neither is used where fork is not available.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any


def can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def cores() -> int:
    """How many worker processes fork_map starts: one per CPU, at most 8."""
    return min(os.cpu_count() or 1, 8)


def fork_map(
    func: Callable[[Any], Any],
    items: list,
    minimum: int,
    chunk: int,
    advance: Callable[[int], None] = lambda n: None,
    meanwhile: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """func over items, in order; in forked worker processes when there are at least `minimum`
    items and cores to spare. `meanwhile` runs here once the workers have started (never when
    there are none)."""
    workers = cores()
    if len(items) < minimum or workers < 2 or not can_fork():
        for item in items:
            yield func(item)
            advance(1)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork")
    others = set(multiprocessing.active_children())  # e.g. a helper: not ours to stop
    gc.freeze()  # forked workers then share the parent's objects instead of copying their pages
    # Workers are forked with Ctrl-C and SIGTERM held back until they have their own handlers
    # (see _worker_signals); here, a signal that came meanwhile is raised once they are released.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_signals)
    try:
        try:
            results = pool.map(func, items, chunksize=chunk)  # submits everything: workers start now
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if meanwhile is not None:
            meanwhile()
        for result in results:
            yield result
            advance(1)
    except (KeyboardInterrupt, SystemExit, BrokenProcessPool) as exc:
        # Ctrl-C or SIGTERM here (only ever in the main thread): stop the workers now rather
        # than let the pool finish every queued chunk, or hang on a worker it lost track of.
        pool.shutdown(wait=False, cancel_futures=True)
        _stop([p for p in multiprocessing.active_children() if p not in others])
        if isinstance(exc, BrokenProcessPool) and _stopped_by:  # our own stop was lost (stop_by_signal)
            raise SystemExit(128 + _stopped_by) from None
        raise
    finally:
        pool.shutdown(wait=True)
        gc.unfreeze()


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_stopped_by = 0  # the stop signal this process was sent, even if the exception it raised got lost


def stop_by_signal(signum: int, frame: object = None) -> None:
    """Signal handler for Ctrl-C and SIGTERM in a command that exits when done: unwinds as
    KeyboardInterrupt / SystemExit, and remembers it. Python only prints ("Exception ignored")
    an exception raised in the middle of a callback, such as an import lock's weakref one,
    so fork_map checks the note when its workers, stopped by the same signal, vanish."""
    global _stopped_by
    _stopped_by = signum
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.exit(128 + signum)


def quiet_lost_stops(unraisable: Any) -> None:
    """sys.unraisablehook: a stop signal's exception lost in a callback is honoured later
    (see stop_by_signal), so it is no traceback for the operator."""
    if _stopped_by and isinstance(unraisable.exc_value, (KeyboardInterrupt, SystemExit)):
        return
    sys.__unraisablehook__(unraisable)


def _worker_signals() -> None:
    """In each pool worker: Ctrl-C is the parent's to handle (it stops the workers), and
    SIGTERM unwinds so a half-written temporary file is removed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    except SystemExit:
        # A SIGTERM that came while the fork kept it blocked lands here, before this worker has
        # any work or file: leave at once, or the pool prints "Exception in initializer" and a traceback.
        os._exit(1)


def _stop(processes: list[Any], grace: float = 1.0) -> None:
    """SIGTERM, then SIGKILL for any process still running after `grace` seconds."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(grace)
        if process.exitcode is None:
            process.kill()
            process.join()


class Helper:
    """One process forked now that runs `prepare` (typically slow imports), then the jobs it is
    sent, while this process does other work.

    Any failure in it only costs time: `collect` does here whatever the helper could not (an
    error, a result that does not pickle, a helper that died or does not answer within
    TIMEOUT), so errors are raised and reported from this process as usual. Leaving the
    context stops it with SIGTERM, which it turns into SystemExit so `finally` blocks (a
    half-written temporary file's removal) still run; SIGKILL only if that does not end it.

    Not a ProcessPoolExecutor: that starts a management thread here, cannot stop a worker that
    is stuck (Python 3.11), and would make a helper that died break every later job.
    """

    TIMEOUT = 60.0  # seconds for set-up or a batch of jobs; normally well under one

    @staticmethod
    def usable() -> bool:
        """Fork is available, and this process has one thread: a fork of a threaded process can
        deadlock on a lock another thread held at that moment."""
        import threading

        return can_fork() and threading.active_count() == 1

    def __init__(self, prepare: Callable[[], None]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.conn, theirs = context.Pipe()
        self.process: Any = context.Process(
            target=_helper_main, args=(theirs, self.conn, prepare), daemon=True, name="publisher-helper"
        )
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # until it has its handlers
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        theirs.close()
        self.ready = False  # it said its set-up is done (and it is waiting for jobs)
        self.pending: tuple[Callable[..., Any], list[tuple]] | None = None
        self.sent = False
        self.done = 0  # jobs it completed

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, func: Callable[..., Any], jobs: list[tuple]) -> None:
        """Start func(*job) for each job in the helper (func must be importable by name);
        `collect` returns the results. One batch at a time: answers are matched by order."""
        if self.pending is not None:
            raise RuntimeError("submit() before the last batch was collected")
        self.pending = (func, jobs)
        self.sent = False
        # Sent only once the helper is waiting for it: a large batch never blocks this process
        # on a helper still busy with its set-up.
        if self.process is None or not (self.ready or self._receive() == "ready"):
            return
        self.ready = True
        try:
            self.conn.send((func, jobs))
            self.sent = True
        except Exception:  # a closed pipe, or something that does not pickle: collect does it here
            self.close()

    def collect(self) -> list[Any]:
        """The submitted jobs' results, in order; any job the helper could not do is done here."""
        if self.pending is None:
            raise RuntimeError("collect() without submit()")
        func, jobs = self.pending
        self.pending = None
        answers = self._receive() if self.sent else None
        if not isinstance(answers, list) or len(answers) != len(jobs):
            answers = [(False, None)] * len(jobs)
        results = []
        for job, (ok, result) in zip(jobs, answers, strict=True):
            results.append(result if ok else func(*job))
            self.done += ok
        return results

    def _receive(self) -> Any:
        """The helper's next message, or None (and the helper stopped) if none comes in time."""
        from multiprocessing.connection import wait

        try:
            if self.process is not None and wait([self.conn, self.process.sentinel], timeout=self.TIMEOUT):
                return self.conn.recv()
        except (OSError, EOFError):
            pass
        self.close()
        return None

    def close(self) -> None:
        if self.process is None:
            return
        _stop([self.process], grace=2.0)
        self.conn.close()
        self.process = None


def _helper_main(conn: Any, parents_end: Any, prepare: Callable[[], None]) -> None:
    """The helper process: set up, say so, then run batches until the parent hangs up."""
    parents_end.close()  # else the parent's death would never look like end-of-file here
    _worker_signals()  # Ctrl-C is the parent's to handle; SIGTERM unwinds
    with contextlib.suppress(Exception):  # the parent meets the same error doing the work, and reports it
        prepare()
    try:
        conn.send("ready")
        while True:
            func, jobs = conn.recv()
            answers = [_attempt(func, job) for job in jobs]
            try:
                conn.send(answers)
            except (EOFError, OSError):
                raise
            except Exception:  # a result that does not pickle: the parent does these jobs itself
                conn.send([(False, None)] * len(jobs))
    except (EOFError, OSError):  # the parent hung up or died: nothing left to do
        return


def _attempt(func: Callable[..., Any], job: tuple) -> tuple[bool, Any]:
    try:
        return True, func(*job)
    except Exception:  # the parent does this job again, and reports its error
        return False, None


def _exit_on_term(signum: int, frame: Any) -> None:
    """A worker's SIGTERM handler: unwinds, so a half-written temporary file is removed. Noted
    like the parent's (stop_by_signal), so the inherited quiet_lost_stops stays quiet when the
    exit is lost in a callback; the parent's stop then ends this worker anyway."""
    global _stopped_by
    _stopped_by = signum
    # Whatever this worker could still print is noise to the operator, who asked for the stop:
    # raised mid-read of the task queue, the exit can surface as the pool's own EOFError with a
    # traceback. The parent reports the stop.
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    sys.exit(1)
