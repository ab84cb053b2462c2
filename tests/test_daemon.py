"""`publisher run` as a real process: new posts reach feeds, hubs and inboxes by themselves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import parse_qs

import pytest

from publisher import campaigns, subscriptions
from tests.conftest import SECRET, free_port, post_text

SAMPLE = "posts/2026-01-05-groq-nvidia-prefill-decode.md"


class Hub(BaseHTTPRequestHandler):
    """A WebSub hub that records publish pings."""

    pings: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        Hub.pings.append(parse_qs(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub():
    Hub.pings = []
    server = HTTPServer(("127.0.0.1", free_port()), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hub", Hub.pings
    server.shutdown()


def start(config) -> subprocess.Popen:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", str(config.path), "run", "--verbose"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


def wait_for(predicate, timeout: float = 20.0, what: str = "", process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            log = _log_so_far(process) if process is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n{log}")
        time.sleep(0.05)


def feed(config) -> str:
    path = config.output_dir / "index.xml"
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.fixture
def daemon_site(newsletter_site, hub):
    hub_url, _ = hub
    config = newsletter_site(
        data=[SAMPLE],
        newsletter={"auto_send": True},
        daemon={"debounce_seconds": 0.3, "rescan_minutes": 60},
        websub_hubs=[hub_url],
    )
    store = campaigns.open_store(config)
    store.add_subscribers(
        [{"email": f"r{i}@example.com", "name": "", "status": "confirmed"} for i in range(3)], resubscribe=False
    )
    processes: list[subprocess.Popen] = []

    def run() -> subprocess.Popen:
        process = start(config)
        processes.append(process)
        return process

    yield config, store, run
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_new_post_reaches_feeds_hub_and_inboxes(daemon_site, smtp_server, hub) -> None:
    config, _store, run = daemon_site
    server, _ = smtp_server
    _, pings = hub
    daemon = run()
    wait_for(lambda: "Groq" in feed(config) and "event=start" in _log_so_far(daemon), what="the first build")
    assert 'rel="hub"' in feed(config)
    assert server.messages == []  # the archive is not mailed

    (config.content_dir / "posts/fresh.md").write_text(post_text(title="Fresh from the daemon", tags=["Daemon"]))
    wait_for(lambda: "Fresh from the daemon" in feed(config), what="the feed update")
    wait_for(lambda: len(server.messages) == 3, what="the campaign", process=daemon)
    assert sorted(server.recipients()) == ["r0@example.com", "r1@example.com", "r2@example.com"]

    def pinged() -> set[str]:
        return {url for ping in list(pings) for url in ping["hub.url"]}

    wait_for(lambda: "https://blog.example.com/tags/daemon/index.xml" in pinged(), what="the WebSub ping")
    assert "https://blog.example.com/index.xml" in pinged()
    assert {ping["hub.mode"][0] for ping in pings} == {"publish"}

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 0
    log = _log_so_far(daemon)
    assert "level=INFO" in log and "event=stopped" in log


def test_future_post_is_published_and_mailed_when_its_time_comes(daemon_site, smtp_server) -> None:
    config, _store, run = daemon_site
    server, _ = smtp_server
    daemon = run()
    wait_for(lambda: "Groq" in feed(config) and "event=start" in _log_so_far(daemon), what="the first build")
    when = datetime.now(UTC) + timedelta(seconds=4)
    (config.content_dir / "posts/later.md").write_text(post_text(title="Right on time", date=when.isoformat()))
    time.sleep(1.5)
    assert "Right on time" not in feed(config)  # scheduled, not yet published
    wait_for(lambda: "Right on time" in feed(config), timeout=15, what="the scheduled post")
    assert datetime.now(UTC) >= when
    wait_for(lambda: len(server.messages) == 3, what="the scheduled campaign")


def test_restart_sends_nothing_again(daemon_site, smtp_server) -> None:
    config, _store, run = daemon_site
    server, _ = smtp_server
    first = run()
    wait_for(lambda: "Groq" in feed(config) and "event=start" in _log_so_far(first), what="the first build")
    (config.content_dir / "posts/once.md").write_text(post_text(title="Only once"))
    wait_for(lambda: len(server.messages) == 3, what="the campaign")
    first.kill()  # no goodbye
    first.wait()
    second = run()
    wait_for(lambda: "event=build reason=start" in _log_so_far(second), what="the restart's first cycle")
    time.sleep(1.0)
    assert len(server.messages) == 3
    second.send_signal(signal.SIGINT)
    assert second.wait(timeout=10) == 0


def test_a_campaign_a_stop_left_unfinished_goes_out_at_start(daemon_site, smtp_server) -> None:
    # Queued, as a SIGTERM mid-campaign leaves it: the restart sends it at once, not after the
    # retry interval (minutes).
    config, store, run = daemon_site
    server, _ = smtp_server
    campaigns.create_campaigns(config, store, campaigns.plan_send(config, store, backfill=True))
    daemon = run()
    wait_for(lambda: len(server.messages) == 3, timeout=20, what="the queued campaign", process=daemon)
    wait_for(lambda: "event=sending campaign 1: 3/3" in _log_so_far(daemon), what="the progress line", process=daemon)


_logs: dict[int, str] = {}


def _log_so_far(process: subprocess.Popen) -> str:
    """Read what the process has logged so far without blocking."""
    import fcntl

    fd = process.stdout.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        chunk = process.stdout.read()
    except (BlockingIOError, TypeError):
        chunk = None
    _logs[process.pid] = _logs.get(process.pid, "") + (chunk or "")
    return _logs[process.pid]


def test_unsubscribed_subscriber_gets_nothing_from_the_daemon(daemon_site, smtp_server) -> None:
    config, store, run = daemon_site
    server, _ = smtp_server
    store.set_status("r1@example.com", "unsubscribed")
    daemon = run()
    wait_for(lambda: "Groq" in feed(config) and "event=start" in _log_so_far(daemon), what="the first build")
    (config.content_dir / "posts/news.md").write_text(post_text(title="News"))
    wait_for(lambda: len(server.messages) == 2, what="the campaign")
    time.sleep(0.5)
    assert sorted(server.recipients()) == ["r0@example.com", "r2@example.com"]
    assert subscriptions.normalize_email("R1@example.com") not in server.recipients()


def test_expired_post_leaves_the_feeds_when_it_expires(daemon_site) -> None:
    config, _, run = daemon_site
    daemon = run()
    wait_for(lambda: "Groq" in feed(config) and "event=start" in _log_so_far(daemon), what="the first build")
    until = datetime.now(UTC) + timedelta(seconds=4)
    (config.content_dir / "posts/brief.md").write_text(post_text(title="Here briefly", expiryDate=until.isoformat()))
    wait_for(lambda: "Here briefly" in feed(config), what="the post")
    wait_for(lambda: "Here briefly" not in feed(config), timeout=15, what="the expiry")
    assert datetime.now(UTC) >= until


def test_a_file_still_being_written_is_not_read_half_way(daemon_site) -> None:
    config, _, run = daemon_site
    daemon = run()
    wait_for(lambda: "Groq" in feed(config) and "event=start" in _log_so_far(daemon), what="the first build")
    text = post_text(title="Written slowly")
    path = config.content_dir / "posts/slow.md"
    with path.open("w", encoding="utf-8") as f:
        for i in range(0, len(text), 12):  # a chunk every 0.15 s, under the 0.3 s debounce
            f.write(text[i : i + 12])
            f.flush()
            time.sleep(0.15)
    wait_for(lambda: "Written slowly" in feed(config), what="the post")
    assert "event=rejected" not in _log_so_far(daemon)  # never parsed while incomplete


def test_its_own_output_and_cache_inside_content_dir_never_trigger_a_build(make_site) -> None:
    # content_dir = "." holds public/ and .publisher-cache/: the files each build writes there
    # must not look like content changes, or every build would start the next one.
    config = make_site({"posts/a.md": post_text(title="A")}, content_dir=".", daemon={"debounce_seconds": 0.2})
    command = [sys.executable, "-m", "publisher", "--config", str(config.path), "run"]  # INFO: a few lines
    daemon = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: "<title>A</title>" in feed(config), what="the first build")
        (config.content_dir / "content/posts/b.md").write_text(post_text(title="B"))
        wait_for(lambda: "<title>B</title>" in feed(config), what="the second build")
        time.sleep(2.5)  # ten debounce intervals: a build triggered by its own writes would show
    finally:
        daemon.send_signal(signal.SIGTERM)
        log, _ = daemon.communicate(timeout=10)
    builds = [line for line in log.splitlines() if "event=build " in line]
    assert len(builds) == 2, log


@pytest.mark.parametrize("command", [["run", "--serve"], ["serve"]])
def test_a_port_in_use_stops_the_start_with_one_line(make_site, command) -> None:
    # Under systemd, a daemon whose web server failed to bind looked healthy while subscribe,
    # confirm and unsubscribe were all down.
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = make_site(data=[SAMPLE], server={"host": "127.0.0.1", "port": port})
        env = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}
        done = subprocess.run(
            [sys.executable, "-m", "publisher", "--config", str(config.path), *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
    assert done.returncode == 2, done.stderr
    assert f"Error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
