"""The outbox under a hard kill: a real `publisher send` process killed with SIGKILL, then resumed."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from publisher import campaigns, subscriptions
from publisher.outbox import RECORD_EVERY, backoff
from tests.conftest import SECRET

SAMPLE = "posts/2026-01-05-groq-nvidia-prefill-decode.md"


def run_send(config, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", str(config.path), "send", "--yes", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def kill_midway(config, server, after: int = 150) -> None:
    """Start `publisher send`, SIGKILL it once the relay has accepted `after` messages."""
    first = run_send(config, "--backfill")
    deadline = time.monotonic() + 60
    while len(server.messages) < after and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()


def test_send_killed_midway_resumes_without_losing_anyone(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter_site(data=[SAMPLE])
    store = campaigns.open_store(config)
    emails = [f"reader{i}@example.com" for i in range(600)]
    store.add_subscribers(
        [{"email": subscriptions.normalize_email(e), "name": "", "status": "confirmed"} for e in emails],
        resubscribe=False,
    )
    server.delay = 0.004  # a slow relay, so the kill lands mid-campaign

    kill_midway(config, server)
    received_before = len(server.messages)
    assert 0 < received_before < len(emails), "the kill must land mid-campaign"

    second = run_send(config)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    got = Counter(server.recipients())
    assert set(got) == set(emails)  # nobody missed
    duplicates = sum(n - 1 for n in got.values())
    # Only messages accepted by the server but not yet recorded when the process died can repeat.
    assert duplicates <= RECORD_EVERY + config.settings.smtp.connections
    (campaign,) = store.all_campaigns()
    assert campaign.status == "done"
    assert store.progress(campaign.id)["sent"] == len(emails)


@pytest.mark.parametrize("smtp", [{}, {"processes": 2, "connections": 4}], ids=["one-process", "two-processes"])
def test_ctrl_c_stops_a_send_at_once_and_twice_loses_no_record(newsletter_site, smtp_server, smtp) -> None:
    # Ctrl-C pressed twice, as an impatient operator does: the send stops within the messages in
    # flight, and every message the relay accepted is recorded, so resuming mails nobody twice.
    server, _ = smtp_server
    config = newsletter_site(data=[SAMPLE], smtp=smtp)
    store = campaigns.open_store(config)
    emails = [f"reader{i}@example.com" for i in range(600)]
    store.add_subscribers([{"email": e, "name": "", "status": "confirmed"} for e in emails], resubscribe=False)
    server.delay = 0.01
    first = run_send(config, "--backfill")
    deadline = time.monotonic() + 60
    while len(server.messages) < 60 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGINT)
    stopped_at = time.monotonic()
    time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert time.monotonic() - stopped_at < 3, "the send went on after Ctrl-C"
    assert first.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    received = len(server.messages)
    assert received < len(emails), "the stop must land mid-campaign"
    (campaign,) = store.all_campaigns()
    assert store.progress(campaign.id)["sent"] == received  # everything accepted is recorded

    second = run_send(config)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    assert Counter(server.recipients()) == dict.fromkeys(emails, 1)


def test_backoff_grows_and_is_bounded() -> None:
    delays = [backoff(n, 60) for n in range(1, 8)]
    assert 48 <= delays[0] <= 72
    assert all(b > a for a, b in itertools.pairwise(delays[:4]))
    assert max(delays) <= 6 * 3600 * 1.2


def test_several_sending_processes_share_a_campaign(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter_site(data=[SAMPLE], smtp={"processes": 3, "connections": 6})
    store = campaigns.open_store(config)
    emails = [f"p{i}@example.com" for i in range(300)]
    rows = [{"email": e, "name": "", "status": "confirmed"} for e in [*emails, "nobody@example.com"]]
    store.add_subscribers(rows, resubscribe=False)
    server.permanent["nobody@example.com"] = "550 5.1.1 no such user"
    plan = campaigns.plan_send(config, store, backfill=True)
    campaigns.create_campaigns(config, store, plan)
    seen = []
    summary = campaigns.send_queued(config, store, retry_wait=0, progress=lambda c, n: seen.append)
    assert summary.sent == 300 and summary.failed == 1
    assert summary.bounced == 1  # counted by the child that saw the 550
    assert store.subscriber("nobody@example.com").status == "bounced"
    assert Counter(server.recipients()) == dict.fromkeys(emails, 1)
    (campaign,) = store.all_campaigns()
    assert campaign.status == "done" and store.progress(campaign.id)["sent"] == 300


def test_killed_multiprocess_send_resumes(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter_site(data=[SAMPLE], smtp={"processes": 2, "connections": 4})
    store = campaigns.open_store(config)
    emails = [f"m{i}@example.com" for i in range(600)]
    store.add_subscribers([{"email": e, "name": "", "status": "confirmed"} for e in emails], resubscribe=False)
    server.delay = 0.004
    kill_midway(config, server)
    time.sleep(0.5)  # the children die with their parent (PR_SET_PDEATHSIG)
    received_before = len(server.messages)
    time.sleep(0.3)
    assert len(server.messages) == received_before, "orphaned children kept sending"
    second = run_send(config)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    got = Counter(server.recipients())
    assert set(got) == set(emails)
    assert sum(n - 1 for n in got.values()) <= 2 * (RECORD_EVERY + config.settings.smtp.connections)
