"""Benchmark `publisher send` against postfix's smtp-source, into one local smtp-sink.

One sample post is mailed to N confirmed subscribers through a real ``publisher send --yes
--backfill`` child process, with DKIM off and on, into postfix's ``smtp-sink`` on
127.0.0.1 (it accepts and discards every message).  ``smtp-source`` sends the same number of
messages of the same size to the same sink as the reference: 10 sessions and 1 session, each
reusing its connection (``-d``) like publisher does, plus 10 sessions that reconnect for each
message.  Reported for each run: wall time, messages/s, peak memory (the summed PSS of the
command's whole process tree, sampled 5 times a second, since publisher may fork senders),
CPU time (``os.wait4``: the command and its children), and how much of the machine's CPU other
guests of the host (steal) and other programs took meanwhile, since either skews the figures;
then the publisher/smtp-source throughput ratio and the targets.  Every run is checked: the
sink's message counter must grow by exactly N, and ``publisher status`` must show N/N sent.

Run from the repository root, with the interpreter that can import ``publisher``::

    .venv/bin/python bench/send.py                    # 100,000 subscribers
    .venv/bin/python bench/send.py --quick            # 10,000
    .venv/bin/python bench/send.py --scale-check      # also N and 10 x N: is memory flat?
    .venv/bin/python bench/send.py --dkim off --no-source --keep --workdir /tmp/bench-send

smtp-sink and smtp-source come from Debian's postfix package, unpacked without installing
an MTA (see --postfix-dir).  Standard library plus the project package (to seed the
subscribers quickly) and, for the DKIM key, ``cryptography`` or the openssl command.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTS = REPO_ROOT / "content" / "posts"
POSTFIX_DEFAULT = Path("/tmp/postfix-x/usr/sbin")
POSTFIX_HELP = """\
smtp-sink / smtp-source not found (looked in {where}).
Get them from Debian's postfix package without installing an MTA:

    apt-get update; cd /tmp && apt-get download postfix && dpkg -x postfix_*.deb /tmp/postfix-x

then run this again (or pass --postfix-dir DIR holding smtp-sink and smtp-source).
The shared libraries come from the same package (/tmp/postfix-x/usr/lib/postfix); this
script puts that folder on LD_LIBRARY_PATH itself."""

SECRET = "bench-secret-0123456789abcdef0123456789"
SENDER = "from@example.com"
RECIPIENT = "to@example.com"
SEED_BATCH = 5000

TARGET_RATIO = 0.25  # publisher (DKIM off) msg/s >= this x smtp-source (10 sessions)
TARGET_DKIM_RATE = 1000.0  # msg/s with DKIM on
TARGET_MEMORY_MB = 150.0  # peak RSS of every publisher run
TARGET_SCALE = 1.5  # peak RSS at 10 x N / peak RSS at N

PUBLISHER_CONFIG = """\
title = "Podcast 筆記"
description = "bench"
base_url = "https://example.com/"
language = "zh-TW"
timezone = "Asia/Taipei"

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = {connections}
timeout = 60
{smtp_extra}
[newsletter]
from = "Podcast 筆記 <news@example.com>"
unsubscribe_url = "https://example.com/unsubscribe/"
{dkim}"""


@dataclass(frozen=True)
class Run:
    """One measured child process."""

    wall: float
    maxrss_kb: int  # the largest single process (os.wait4: the child or a descendant it waited for)
    cpu: float  # user + system seconds of the child
    returncode: int
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, output line)
    steal: float | None = None  # share of the machine's CPU time the hypervisor took meanwhile
    others: float | None = None  # share of it other programs on this machine took meanwhile
    tree_pss_kb: int | None = None  # peak of the summed PSS of the child and all its descendants
    tree_rss_kb: int | None = None  # peak of their summed RSS (counts pages shared after fork twice)
    processes: int = 1  # most processes seen in the tree at once


@dataclass
class Row:
    """One line of the results table."""

    tool: str
    phase: str
    messages: int
    run: Run | None = None
    received: int | None = None  # the sink's message counter grew by this much
    sent: int | None = None  # `publisher status`: rows sent
    stages: dict[str, float] = field(default_factory=dict)  # publisher: seconds per stage
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.run is not None and self.run.returncode == 0 and self.error is None

    @property
    def rate(self) -> float | None:
        return self.messages / self.run.wall if self.ok and self.run.wall > 0 else None

    @property
    def peak_mb(self) -> float | None:
        """Peak memory of the whole command: summed PSS of its process tree (a forked sender is
        several processes), or the largest process's RSS where /proc can't be sampled."""
        if self.run is None:
            return None
        return (self.run.tree_pss_kb or self.run.maxrss_kb) / 1024


# --- tools --------------------------------------------------------------------------------


def find_postfix(folder: Path | None) -> tuple[Path, Path] | None:
    """(smtp-sink, smtp-source) from --postfix-dir, the default unpack folder, then PATH."""
    folders = [folder] if folder else [POSTFIX_DEFAULT]
    for d in folders:
        sink, source = d / "smtp-sink", d / "smtp-source"
        if sink.is_file() and source.is_file():
            return sink, source
    if folder is None:
        sink, source = shutil.which("smtp-sink"), shutil.which("smtp-source")
        if sink and source:
            return Path(sink), Path(source)
    return None


def postfix_env(sink: Path) -> dict[str, str]:
    """The environment for the postfix binaries: their own shared libraries on the path."""
    env = dict(os.environ)
    libdirs = [sink.parent.parent / "lib" / "postfix", Path("/usr/lib/postfix")]
    found = [str(d) for d in libdirs if any(d.glob("libpostfix-*.so"))]
    if found:
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*found, env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """smtp-sink on 127.0.0.1:<port>, counting (-c) into a log file; nothing is written to disk."""

    def __init__(self, exe: Path, env: dict[str, str], log: Path):
        self.port = free_port()
        self.log = log
        cmd = [str(exe), "-4", "-c"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]  # required when started as root
        cmd += [f"127.0.0.1:{self.port}", "1000"]
        self.cmd = cmd
        self.out = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"smtp-sink exited at once ({self.proc.returncode}):\n{log_tail(log)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("smtp-sink does not accept connections") from None
                time.sleep(0.05)
        self.settle()

    def count(self) -> int:
        """Messages received so far: the last `mesg=N` the sink printed."""
        self.out.flush()
        with self.log.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            found = re.findall(rb"mesg=(\d+)", f.read())
        return int(found[-1]) if found else 0

    def settle(self, seconds: float = 5.0) -> int:
        """The counter once it has stopped moving (the sink counts a session's end after it)."""
        last, deadline = self.count(), time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.count()
            if now == last:
                return now
            last = now
        return last

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


# --- measuring ----------------------------------------------------------------------------


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far: the machine's (all cores), and those this benchmark accounts for."""

    busy: float  # every process on the machine, not idle, not stolen
    steal: float  # taken by the hypervisor for other guests
    total: float
    known: float  # this script and the processes it watches (the sink)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_sample(watch: Sequence[int]) -> CpuSample | None:
    """The machine's CPU counters from /proc/stat, or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields[:8]] + [0] * 8  # user nice system idle iowait irq softirq steal
    idle, steal, total = values[3] + values[4], values[7], sum(values[:8])
    me = resource.getrusage(resource.RUSAGE_SELF)
    known = me.ru_utime + me.ru_stime + sum(process_cpu(p) for p in watch)
    return CpuSample((total - idle - steal) / TICK, steal / TICK, total / TICK, known)


def contention(before: CpuSample | None, after: CpuSample | None, child_cpu: float) -> tuple[float, float] | None:
    """(stolen, used by others) as shares of the machine's CPU time between two samples: what
    other guests of the host and other programs on this machine took from the benchmark."""
    if before is None or after is None or after.total <= before.total:
        return None
    total = after.total - before.total
    others = (after.busy - before.busy) - child_cpu - (after.known - before.known)
    return (after.steal - before.steal) / total, max(0.0, others) / total


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (Linux /proc)."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                todo.extend(int(c) for c in Path(task.path, "children").read_text().split())
        except OSError:
            continue
    return pids


def tree_memory(root: int) -> tuple[int, int, int] | None:
    """(summed PSS, summed RSS, processes) of a process tree in KB, or None without /proc."""
    pss = rss = count = 0
    for pid in process_tree(root):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines()[1:] if ":" in line)
        pss += int(fields.get("Pss", "0 kB").split()[0])
        rss += int(fields.get("Rss", "0 kB").split()[0])
        count += 1
    return (pss, rss, count) if count else None


class MemorySampler(threading.Thread):
    """Samples a process tree's memory five times a second until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.halt = threading.Event()
        self.pss = self.rss = self.processes = 0
        self.sampled = False

    def run(self) -> None:
        while not self.halt.is_set():
            found = tree_memory(self.pid)
            if found:
                self.sampled = True
                self.pss, self.rss = max(self.pss, found[0]), max(self.rss, found[1])
                self.processes = max(self.processes, found[2])
            self.halt.wait(0.2)


def measure(
    cmd: Sequence[str], env: dict[str, str], log: Path, keep_lines: bool = False, watch: Sequence[int] = ()
) -> Run:
    """Run `cmd`, returning wall time, peak RSS (KB), CPU seconds, exit code, the CPU steal
    meanwhile and, if asked, its output lines stamped with the time they arrived."""
    lines: list[tuple[float, str]] = []
    cpu_before = cpu_sample(watch)
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(cmd)}\n".encode())
        out.flush()
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE if keep_lines else out, stderr=subprocess.STDOUT, env=env
            )
        except OSError as exc:
            out.write(f"cannot start: {exc}\n".encode())
            return Run(wall=0.0, maxrss_kb=0, cpu=0.0, returncode=127)
        reader = None
        if keep_lines:

            def read() -> None:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    lines.append((time.perf_counter() - start, raw.decode("utf-8", "replace").rstrip()))
                    out.write(raw)

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
        sampler = MemorySampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        sampler.halt.set()
        wall = time.perf_counter() - start
        shares = contention(cpu_before, cpu_sample(watch), usage.ru_utime + usage.ru_stime)
        if reader is not None:
            reader.join(10)
            assert proc.stdout is not None
            proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        wall=wall,
        maxrss_kb=usage.ru_maxrss,
        cpu=usage.ru_utime + usage.ru_stime,
        returncode=proc.returncode,
        lines=lines,
        steal=shares[0] if shares else None,
        others=shares[1] if shares else None,
        tree_pss_kb=sampler.pss if sampler.sampled else None,
        tree_rss_kb=sampler.rss if sampler.sampled else None,
        processes=max(1, sampler.processes),
    )


def log_tail(log: Path, lines: int = 12) -> str:
    """Last lines of a log file, indented."""
    text = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines()[-lines:]
    return "\n".join("    " + line for line in text)


# --- the site -----------------------------------------------------------------------------


def toml_str(value: object) -> str:
    """Quote a value as a TOML basic string (JSON escaping is compatible)."""
    import json

    return json.dumps(str(value), ensure_ascii=False)


def post_slug(path: Path) -> str:
    """The slug publisher gives a sample post: front matter `slug`, else the file name."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^slug:\s*\"?([^\"\n]+?)\"?\s*$", text.split("\n---", 2)[1] if text.startswith("---") else "", re.M)
    return m.group(1) if m else path.stem


def write_site(
    site: Path, post: Path, port: int, connections: int, dkim_key: Path | None, processes: int | None = None
) -> Path:
    """A site folder with publisher.toml and content/posts/<the post>; returns the config path."""
    (site / "content" / "posts").mkdir(parents=True)
    shutil.copy(post, site / "content" / "posts" / post.name)
    dkim = f'dkim_selector = "bench"\ndkim_key_file = {toml_str(dkim_key)}\n' if dkim_key else ""
    config = site / "publisher.toml"
    smtp_extra = f"processes = {processes}\n" if processes is not None else ""
    text = PUBLISHER_CONFIG.format(port=port, connections=connections, dkim=dkim, smtp_extra=smtp_extra)
    config.write_text(text, encoding="utf-8")
    return config


def seed_database(path: Path, count: int) -> float:
    """A SQLite database with `count` confirmed subscribers (publisher's own schema); seconds."""
    sys.path.insert(0, str(REPO_ROOT))
    from publisher.store import Store

    start = time.perf_counter()
    store = Store.open(f"sqlite:///{path}")
    try:
        for first in range(0, count, SEED_BATCH):
            rows = [
                {
                    "email": f"reader{i:07d}@example.com",
                    "name": f"Reader {i}",
                    "status": "confirmed",
                    "topics": None,
                    "source": "bench",
                }
                for i in range(first, min(count, first + SEED_BATCH))
            ]
            store.add_subscribers(rows, resubscribe=False)
    finally:
        store.close()  # the last connection closing checkpoints the WAL into the file
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return time.perf_counter() - start


def make_dkim_key(path: Path) -> str:
    """An RSA 2048 private key in PEM; returns what made it."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        openssl = shutil.which("openssl")
        if not openssl:
            raise RuntimeError("DKIM needs the cryptography package or the openssl command") from None
        subprocess.run([openssl, "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
        return "openssl genrsa"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return "cryptography"


# --- phases -------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, sink: Sink, source: Path, pf_env: dict[str, str]):
        self.args = args
        self.work = work
        self.sink = sink
        self.source = source
        self.pf_env = pf_env
        self.logs = work / "logs"
        self.env = dict(os.environ, PUBLISHER_SECRET_KEY=SECRET, PYTHONUNBUFFERED="1")
        if args.publisher_cmd:
            self.base = shlex.split(args.publisher_cmd)
        else:
            self.base = [sys.executable, "-m", "publisher"]
            self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        self.env.pop("PUBLISHER_CONFIG", None)
        self.databases: dict[int, Path] = {}
        self.sites = 0

    def message_size(self, post: Path) -> tuple[int, int]:
        """(whole message, body) bytes of one real copy, from `publisher preview`."""
        site = self.work / "probe"
        config = write_site(site, post, self.sink.port, 1, None)
        out = self.work / "preview"
        cmd = [*self.base, "--config", str(config), "preview", post_slug(post), "--out", str(out)]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        emls = list(out.glob("*.eml"))
        if done.returncode != 0 or not emls:
            raise RuntimeError(f"publisher preview failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        data = emls[0].read_bytes()
        _, _, body = data.partition(b"\r\n\r\n")
        return len(data), len(body)

    def smtp_source(self, label: str, messages: int, sessions: int, length: int, reuse: bool) -> Row:
        row = Row("smtp-source", label, messages)
        cmd = [str(self.source), "-4", "-c"] + (["-d"] if reuse else [])
        cmd += ["-l", str(length), "-m", str(messages), "-s", str(sessions)]
        cmd += ["-t", RECIPIENT, "-f", SENDER, f"127.0.0.1:{self.sink.port}"]
        before = self.sink.settle()
        row.run = measure(cmd, self.pf_env, self.logs / "smtp-source.log", watch=[self.sink.proc.pid])
        row.received = self.sink.settle() - before
        if row.run.returncode != 0:
            row.error = f"smtp-source exit {row.run.returncode}:\n{log_tail(self.logs / 'smtp-source.log')}"
        elif row.received != messages:
            row.error = f"the sink counted {row.received} messages, not {messages}"
        self.show(row)
        return row

    def database(self, count: int) -> Path:
        """A seeded database for `count` subscribers, made once and copied for each run."""
        if count not in self.databases:
            path = self.work / f"subscribers-{count}.sqlite3"
            seconds = seed_database(path, count)
            size = path.stat().st_size / 1e6
            print(f"  seeded {count:,} confirmed subscribers in {seconds:.1f} s ({size:.0f} MB database)", flush=True)
            self.databases[count] = path
        return self.databases[count]

    def publisher(self, label: str, count: int, post: Path, dkim_key: Path | None) -> Row:
        row = Row("publisher", label, count)
        self.sites += 1
        site = self.work / f"site-{self.sites}"
        config = write_site(site, post, self.sink.port, self.args.connections, dkim_key, self.args.processes)
        shutil.copy(self.database(count), site / "publisher.sqlite3")
        log = self.logs / f"publisher-{self.sites}.log"
        cmd = [*self.base, "--config", str(config), "send", "--yes", "--backfill", "--retry-wait", "0"]
        before = self.sink.settle()
        row.run = measure(cmd, self.env, log, keep_lines=True, watch=[self.sink.proc.pid])
        row.received = self.sink.settle() - before
        row.stages = stages(row.run)
        status = subprocess.run([*self.base, "--config", str(config), "status"], env=self.env, capture_output=True)
        m = re.search(rb"(\d+)/(\d+) sent", status.stdout)
        row.sent = int(m.group(1)) if m else None
        with log.open("ab") as f:
            f.write(b"$ publisher status\n" + status.stdout + status.stderr)
        if row.run.returncode != 0:
            row.error = f"publisher send exit {row.run.returncode}:\n{log_tail(log)}"
        elif row.sent != count or (m and int(m.group(2)) != count):
            row.error = f"publisher status: {status.stdout.decode(errors='replace').strip()} (expected {count} sent)"
        elif row.received != count:
            row.error = f"the sink counted {row.received} messages, not {count}"
        self.show(row)
        if not self.args.keep:
            shutil.rmtree(site, ignore_errors=True)
        return row

    def show(self, row: Row) -> None:
        if row.run is None:
            return
        mark = "ok" if row.ok else "FAILED"
        rate = fmt(row.rate, ",.0f")
        steal = fmt(None if row.run.steal is None else row.run.steal * 100, ".0f")
        others = fmt(None if row.run.others is None else row.run.others * 100, ".0f")
        print(
            f"  {row.tool:<11} {row.phase:<22} {row.messages:>9,} msgs {row.run.wall:8.2f} s {rate:>7} msg/s "
            f"{row.peak_mb or 0:7.1f} MB  steal {steal}%, others {others}%  {mark}",
            flush=True,
        )
        if row.stages:
            print("    " + ", ".join(f"{k} {v:.2f} s" for k, v in row.stages.items()), flush=True)


def stages(run: Run) -> dict[str, float]:
    """Where a `publisher send` run spent its wall time, from when its output lines arrived:
    start-up and plan (until the plan is printed), creating the campaign (until
    `campaign N: subject`), sending (until the `N sent, ...` summary) and the exit after it.
    (Timed here rather than read from the summary's `in X.Xs`, which adds up the senders'
    times when several processes send in parallel.)"""
    t_plan = t_created = t_sent = None
    for t, line in run.lines:
        if t_plan is None and (line.startswith("one email each for") or line.startswith("one digest of")):
            t_plan = t
        elif t_created is None and re.match(r"campaign \d+: (?!\d+/\d+ \()", line):
            t_created = t
        elif t_sent is None and re.match(r"\d+ sent, \d+ deferred", line):
            t_sent = t
    if t_plan is None or t_created is None or t_sent is None:
        return {}
    return {
        "start-up+plan": t_plan,
        "create campaign": t_created - t_plan,
        "send": t_sent - t_created,
        "exit": max(0.0, run.wall - t_sent),
    }


# --- report -------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    """Format a number, or 'n/a' when it was not measured."""
    return "n/a" if value is None else format(value, spec)


def verdict(value: float | None, limit: float, op: str) -> str:
    if value is None:
        return "SKIP"
    ok = {">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]
    return "PASS" if ok else "FAIL"


def report(rows: list[Row], reference: Row | None, scale: tuple[Row, Row] | None) -> bool:
    """Print the tables; return True when every measured target was met and every run delivered."""
    print("\nResults")
    header = f"{'tool':<11} {'phase':<22} {'messages':>9} {'seconds':>8} {'msg/s':>7} {'peak MB':>8} {'RSS MB':>7}"
    print(header + f" {'procs':>5} {'CPU s':>7} {'CPU us/msg':>10} {'steal %':>7} {'others %':>8} {'delivered':>9}")
    for row in rows:
        if row.run is None:
            continue
        cpu = row.run.cpu
        per = cpu / row.messages * 1e6 if row.messages else 0
        steal = row.run.steal * 100 if row.run.steal is not None else None
        others = row.run.others * 100 if row.run.others is not None else None
        delivered = "yes" if row.ok else "NO"
        rss = row.run.tree_rss_kb / 1024 if row.run.tree_rss_kb else row.run.maxrss_kb / 1024
        print(
            f"{row.tool:<11} {row.phase:<22} {row.messages:>9,} {row.run.wall:>8.2f} {fmt(row.rate, ',.0f'):>7} "
            f"{row.peak_mb or 0:>8.1f} {rss:>7.1f} {row.run.processes:>5} {cpu:>7.2f} {per:>10.0f} "
            f"{fmt(steal, '.0f'):>7} {fmt(others, '.0f'):>8} {delivered:>9}"
        )
    print(
        "peak MB: highest summed PSS of the command's processes (sampled 5 times a second); RSS MB: the same "
        "for RSS, which counts the pages forked processes share once per process; CPU: all its processes; "
        "steal / others: the machine's CPU time taken by other guests of the host / by other programs here"
    )
    taken = [(r.run.steal or 0) + (r.run.others or 0) for r in rows if r.run is not None and r.run.steal is not None]
    if taken and max(taken) > 0.05:
        print(
            f"WARNING: other guests of the host (steal) or other programs on this machine took up to "
            f"{max(taken) * 100:.0f}% of its CPU time during a run: those figures are low and vary between runs"
        )
    staged = [r for r in rows if r.stages]
    if staged:
        print("\nWhere publisher's wall time went (seconds, from its output)")
        names = list(staged[0].stages)
        print(f"{'phase':<22} " + " ".join(f"{n:>16}" for n in names) + f" {'send msg/s':>12}")
        for r in staged:
            drain_rate = r.messages / r.stages["send"] if r.stages.get("send") else None
            print(
                f"{r.phase:<22} " + " ".join(f"{r.stages[n]:>16.2f}" for n in names) + f" {fmt(drain_rate, ',.0f'):>12}"
            )

    print("\nTargets")
    all_ok = all(r.ok for r in rows if r.run is not None)
    plain = next((r for r in rows if r.tool == "publisher" and r.phase.startswith("DKIM off")), None)
    signed = next((r for r in rows if r.tool == "publisher" and r.phase.startswith("DKIM on")), None)
    ref_rate = reference.rate if reference else None
    ratio = plain.rate / ref_rate if plain and plain.rate and ref_rate else None
    peaks = [r.peak_mb for r in rows if r.tool == "publisher" and r.run is not None and r.peak_mb]
    checks = [
        (
            "throughput, DKIM off",
            f"ratio {fmt(ratio, '.3f')} ({fmt(plain.rate if plain else None, ',.0f')} / {fmt(ref_rate, ',.0f')} msg/s)",
            verdict(ratio, TARGET_RATIO, ">="),
            f">= {TARGET_RATIO} x smtp-source (10 sessions)",
        ),
        (
            "throughput, DKIM on",
            f"{fmt(signed.rate if signed else None, ',.0f')} msg/s",
            verdict(signed.rate if signed else None, TARGET_DKIM_RATE, ">="),
            f">= {TARGET_DKIM_RATE:,.0f} msg/s",
        ),
        (
            "peak memory",
            f"{fmt(max(peaks) if peaks else None, '.1f')} MB",
            verdict(max(peaks) if peaks else None, TARGET_MEMORY_MB, "<"),
            f"< {TARGET_MEMORY_MB:.0f} MB (every publisher run)",
        ),
    ]
    if scale:
        small, big = scale
        value = big.peak_mb / small.peak_mb if small.peak_mb and big.peak_mb and small.ok and big.ok else None
        checks.append(
            (
                "memory flatness",
                f"ratio {fmt(value, '.2f')} ({fmt(big.peak_mb, '.1f')} / {fmt(small.peak_mb, '.1f')} MB)",
                verdict(value, TARGET_SCALE, "<="),
                f"<= {TARGET_SCALE} (peak at {big.messages:,} / at {small.messages:,})",
            )
        )
    checks.append(
        (
            "delivery",
            "every message counted by the sink and marked sent" if all_ok else "some run did not deliver all",
            "PASS" if all_ok else "FAIL",
            "sink count = N and `publisher status` N/N sent",
        )
    )
    passed = True
    for label, value, mark, target in checks:
        passed = passed and mark in ("PASS", "SKIP")
        print(f"  {label:<21} {value:<40} {mark:<4}  target {target}")
    for row in rows:
        if row.error:
            print(f"\n{row.tool} {row.phase}: {row.error}")
    return passed and all_ok


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--subscribers", type=int, default=100_000, help="N, the number of recipients (100000)")
    size.add_argument("--quick", action="store_true", help="use 10000 subscribers")
    parser.add_argument("--connections", type=int, default=10, help="publisher's smtp.connections (10)")
    parser.add_argument(
        "--processes", type=int, help="publisher's smtp.processes (default: not set, publisher decides)"
    )
    parser.add_argument(
        "--dkim", choices=("off", "on", "both"), default="both", help="publisher runs without/with DKIM (both)"
    )
    parser.add_argument(
        "--scale-check",
        action="store_true",
        help="also send to 10 x N (DKIM off) and compare peak memory with N",
    )
    parser.add_argument("--no-source", action="store_true", help="skip the smtp-source reference runs")
    parser.add_argument("--source-messages", type=int, help="messages per smtp-source run (default: N, at most 100000)")
    parser.add_argument("--post", type=Path, help="the post to mail (default: the largest of content/posts/*.md)")
    parser.add_argument(
        "--postfix-dir",
        type=Path,
        help=f"folder with smtp-sink and smtp-source (default: {POSTFIX_DEFAULT}, then PATH)",
    )
    parser.add_argument(
        "--publisher-cmd",
        help="command that runs publisher, e.g. '.venv/bin/publisher' (default: this interpreter with -m publisher)",
    )
    parser.add_argument("--workdir", type=Path, help="where to work (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (sites, databases, logs) afterwards")
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers = 10_000
    if args.subscribers < 1 or args.connections < 1:
        parser.error("--subscribers and --connections must be at least 1")
    if args.source_messages is None:
        args.source_messages = min(args.subscribers, 100_000)
    if args.post is None:
        posts = sorted(DEFAULT_POSTS.glob("*.md"), key=lambda p: p.stat().st_size)
        if not posts:
            parser.error(f"no sample post in {DEFAULT_POSTS}; pass --post")
        args.post = posts[-1]
    if not args.post.is_file():
        parser.error(f"--post: {args.post} is not a file")
    return args


def prepare_workdir(workdir: Path | None) -> Path:
    """A temp dir, or --workdir with only this benchmark's own leftovers cleared."""
    if workdir is None:
        work = Path(tempfile.mkdtemp(prefix="publisher-bench-send-"))
    else:
        work = workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
        for pattern in ("logs", "probe", "preview", "site-*", "subscribers-*.sqlite3*", "dkim.pem"):
            for path in work.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    (work / "logs").mkdir()
    return work


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    found = find_postfix(args.postfix_dir)
    if found is None:
        where = args.postfix_dir or f"{POSTFIX_DEFAULT} and PATH"
        print(POSTFIX_HELP.format(where=where), file=sys.stderr)
        return 2
    sink_exe, source_exe = found
    pf_env = postfix_env(sink_exe)
    work = prepare_workdir(args.workdir)
    # A SIGTERM (a CI timeout, a kill) unwinds like Ctrl-C, so the sink is stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = args.subscribers
    sink = None
    rows: list[Row] = []
    try:
        sink = Sink(sink_exe, pf_env, work / "logs" / "smtp-sink.log")
        bench = Bench(args, work, sink, source_exe, pf_env)
        size, body = bench.message_size(args.post)
        print(f"smtp-sink: {shlex.join(sink.cmd)} (binaries from {sink_exe.parent})")
        print(f"post: {args.post.name}; one copy is {size:,} bytes ({body:,} of body), smtp-source -l {body}")
        print(f"workdir: {work}; {os.cpu_count()} CPUs; publisher: {shlex.join(bench.base)}")

        reference = None
        if not args.no_source:
            m = args.source_messages
            print(f"smtp-source: {m:,} messages per run")
            reference = bench.smtp_source("10 sessions, reuse (-d)", m, 10, body, reuse=True)
            rows.append(reference)
            rows.append(bench.smtp_source("1 session, reuse (-d)", m, 1, body, reuse=True))
            rows.append(bench.smtp_source("10 sessions, reconnect", m, 10, body, reuse=False))

        procs = "" if args.processes is None else f", smtp.processes = {args.processes}"
        print(f"publisher send: {n:,} subscribers, {args.connections} connections{procs}")
        small = None
        if args.dkim in ("off", "both"):
            small = bench.publisher("DKIM off", n, args.post, None)
            rows.append(small)
        if args.dkim in ("on", "both"):
            key = work / "dkim.pem"
            how = make_dkim_key(key)
            print(f"  DKIM: RSA 2048 key from {how} in {key}")
            rows.append(bench.publisher("DKIM on", n, args.post, key))
        scale = None
        if args.scale_check:
            if small is None:
                small = bench.publisher("DKIM off", n, args.post, None)
                rows.append(small)
            big = bench.publisher("DKIM off, 10 x N", 10 * n, args.post, None)
            rows.append(big)
            scale = (small, big)
        ok = report(rows, reference, scale)
    except RuntimeError as exc:  # the sink or the probe could not start: nothing to measure
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if sink is not None:
            sink.stop()
        if args.keep:
            print(f"\nworkdir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
