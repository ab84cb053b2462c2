"""The build's worker processes: the forked map, and the helper whose failures only cost time."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publisher import workers
from publisher.workers import Helper

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="needs fork")


def fails_in_a_child(n: int) -> int:
    """A job that raises only in a child process."""
    if n < 0 and multiprocessing.parent_process() is not None:
        raise ValueError("refused in the helper")
    return abs(n)


def hangs_in_a_child(n: int) -> int:
    if multiprocessing.parent_process() is not None:
        time.sleep(60)
    return n


def slow_set_up() -> None:
    time.sleep(60)


def cleans_up_when_stopped(marker: str) -> None:
    try:
        time.sleep(60)
    finally:
        Path(marker).write_text("cleaned up")


def nothing() -> None:
    pass


def test_fork_map_keeps_order_in_workers_and_in_process() -> None:
    items = list(range(50))
    assert list(workers.fork_map(abs, [-i for i in items], minimum=1, chunk=3)) == items  # forked
    assert list(workers.fork_map(abs, [-i for i in items], minimum=1000, chunk=3)) == items  # here


def test_a_failing_or_dead_helper_costs_time_not_results() -> None:
    with Helper(prepare=nothing) as helper:
        helper.submit(fails_in_a_child, [(1,), (-2,), (3,)])
        assert helper.collect() == [1, 2, 3]  # the failed job was done here
        assert helper.done == 2 and helper.process is not None  # and the helper keeps going
        helper.submit(int, [("not a number",)])
        with pytest.raises(ValueError):  # a real error surfaces from this process, as usual
            helper.collect()
        helper.submit(len, [("x",)])
        with pytest.raises(RuntimeError):  # a second batch before the first is collected
            helper.submit(len, [("y",)])
        assert helper.collect() == [1]
        helper.process.kill()
        helper.submit(len, [("abc",), ((1, 2),)])
        assert helper.collect() == [3, 2]  # a dead helper: everything done here, no hang
    assert helper.done == 3


def test_a_helper_stuck_on_a_job_is_given_up_on(monkeypatch) -> None:
    monkeypatch.setattr(Helper, "TIMEOUT", 0.5)
    with Helper(prepare=nothing) as helper:
        helper.submit(hangs_in_a_child, [(7,)])
        started = time.monotonic()
        assert helper.collect() == [7]  # done here after the timeout
        assert time.monotonic() - started < 10
        assert helper.process is None  # and the helper stopped


def test_a_batch_is_never_sent_to_a_helper_stuck_in_its_set_up(monkeypatch) -> None:
    # A big batch would fill the pipe and block this process until the helper read it.
    monkeypatch.setattr(Helper, "TIMEOUT", 0.5)
    with Helper(prepare=slow_set_up) as helper:
        started = time.monotonic()
        helper.submit(len, [("x" * 1_000_000,)] * 4)
        assert helper.collect() == [1_000_000] * 4
        assert time.monotonic() - started < 10


def test_stopping_the_helper_lets_its_cleanup_run(tmp_path) -> None:
    # SIGTERM becomes SystemExit in the helper, so a half-written file's `finally` still runs.
    marker = tmp_path / "marker"
    helper = Helper(prepare=nothing)
    helper.submit(cleans_up_when_stopped, [(str(marker),)])
    time.sleep(0.5)
    helper.close()
    assert marker.read_text() == "cleaned up"


def test_a_helper_never_outlives_its_parent(tmp_path) -> None:
    # The parent killed outright: the helper must see end-of-file and exit (releasing the
    # stdout and stderr it shares with the parent), not wait for jobs forever.
    code = (
        "import os, signal, sys\n"
        "from publisher.workers import Helper\n"
        "helper = Helper(prepare=lambda: None)\n"
        "print(helper.process.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = parent.communicate(timeout=30)  # returns only once the helper has closed them too
    pid = int(out.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    assert not alive(pid)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def test_ctrl_c_is_left_to_the_parent() -> None:
    with Helper(prepare=nothing) as helper:
        helper.submit(len, [("ab",)])
        assert helper.collect() == [2]
        os.kill(helper.process.pid, signal.SIGINT)
        time.sleep(0.2)
        helper.submit(len, [("abc",)])
        assert helper.collect() == [3] and helper.done == 2  # still alive, still working


def test_a_threaded_process_gets_no_helper() -> None:
    code = (
        "import threading, time\n"
        "from publisher.workers import Helper\n"
        "print(Helper.usable())\n"
        "threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
        "print(Helper.usable())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False"]
