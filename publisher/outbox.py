"""Draining a campaign's outbox: claim, build, send, record, retry.

The main thread leases batches of outbox rows and records outcomes in batched transactions;
`connections` worker threads each hold one SMTP session and send. A row is marked only
after the server's reply, so an interruption at any point loses nobody: rows still leased
by a dead process are taken back on the next run, and at most the messages between an SMTP
reply and the next recorded batch can go out twice after a hard kill (bounded by
RECORD_EVERY and RECORD_SECONDS).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from publisher.config import Config, rate_limit
from publisher.messages import MessageFactory
from publisher.models import Campaign, OutboxItem
from publisher.store import Delivery, Store, now
from publisher.transport import ConnectionLost, RateLimiter, Reply, SmtpConfigError, SmtpConnection

log = logging.getLogger("publisher.outbox")
CLAIM_BATCH = 500
RECORD_EVERY = 500  # results per transaction at most...
RECORD_SECONDS = 0.25  # ...and at least this often
LEASE = timedelta(minutes=10)
MAX_BACKOFF = 6 * 3600.0
CONNECT_FAILURES_TO_GIVE_UP = 3  # consecutive, per connection, before the run stops
MESSAGES_PER_PROCESS = 2000  # below this, one more sending process isn't worth starting


class SendError(Exception):
    """The run cannot go on (relay unreachable, login refused); everything claimed was put back."""


@dataclass
class SendSummary:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    bounced: int = 0
    seconds: float = 0.0
    stopped: bool = False

    def add(self, other: SendSummary) -> None:
        for name in ("sent", "deferred", "failed", "skipped", "bounced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds
        self.stopped = self.stopped or other.stopped


Advance = Callable[[int], None]


def backoff(attempts: int, base: float) -> float:
    """Seconds before retry number `attempts`: base, 4x, 16x ... capped, with jitter."""
    return min(MAX_BACKOFF, base * 4 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)


def drain(
    store: Store,
    campaign: Campaign,
    config: Config,
    factory: MessageFactory,
    *,
    stop: threading.Event,
    advance: Advance = lambda n: None,
    retry_wait: float = 0.0,
    retry_delay: float = 60.0,
    connect: Callable[[], SmtpConnection] | None = None,
) -> SendSummary:
    """Send everything deliverable in one campaign; wait up to `retry_wait` seconds for
    deferred messages whose retry comes due."""
    news = config.settings.newsletter
    connections = config.settings.smtp.connections
    connect = connect or (lambda: SmtpConnection(config.settings.smtp))
    limiter = RateLimiter(rate_limit(config.settings.smtp.rate_limit))
    work: queue.Queue[OutboxItem | None] = queue.Queue()
    done: queue.Queue[Delivery | BaseException] = queue.Queue()
    summary = SendSummary()
    started = time.monotonic()
    give_up = threading.Event()

    def worker() -> None:
        conn = connect()
        failures = 0
        try:
            while True:
                item = work.get()
                if item is None:
                    return
                if stop.is_set() or give_up.is_set():
                    done.put(Delivery(item.id, item.subscriber_id, "sending", "not sent: stopped"))
                    continue
                if item.subscriber_status != "confirmed":
                    done.put(Delivery(item.id, item.subscriber_id, "skipped", item.subscriber_status))
                    continue
                try:
                    envelope = factory.build(item.subscriber_id, item.email, item.name)
                    limiter.wait(stop)
                    reply = conn.send(envelope)
                    failures = 0
                except ConnectionLost as exc:
                    failures += 1
                    if failures >= CONNECT_FAILURES_TO_GIVE_UP:
                        give_up.set()
                    done.put(_deferred(item, f"connection: {exc}", retry_delay, news.max_attempts))
                    time.sleep(min(2.0, 0.1 * 2**failures))
                    continue
                except SmtpConfigError as exc:
                    give_up.set()
                    done.put(exc)
                    done.put(Delivery(item.id, item.subscriber_id, "sending", "not sent: stopped"))
                    continue
                done.put(_outcome(item, reply, retry_delay, news.max_attempts))
        finally:
            conn.close()

    # Messages, not attempts: one deferred and retried in this run counts once, where it ended,
    # and moves the progress once (a summary said "6 deferred" of 5 messages, a bar 6/5).
    seen: set[int] = set()
    deferred: set[int] = set()

    def tally(result: Delivery) -> None:
        if result.status == "deferred":
            deferred.add(result.outbox_id)
        else:
            deferred.discard(result.outbox_id)
            _count(summary, result)
        if result.outbox_id not in seen:
            seen.add(result.outbox_id)
            # A progress line that can't be written (stderr full, a broken pipe) must never
            # cost the records of what was sent.
            with contextlib.suppress(Exception):
                advance(1)

    threads = [threading.Thread(target=worker, name=f"smtp-{i}", daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    in_flight = 0
    pending: list[Delivery] = []
    last_record = time.monotonic()
    exhausted = False
    fatal: BaseException | None = None
    try:
        while True:
            if not exhausted and not stop.is_set() and not give_up.is_set() and in_flight < CLAIM_BATCH:
                items = store.claim(campaign.id, CLAIM_BATCH, LEASE)
                for item in items:
                    work.put(item)
                in_flight += len(items)
                exhausted = not items
            try:
                result = done.get(timeout=0.05)
                while True:
                    if isinstance(result, BaseException):
                        fatal = result
                    else:
                        in_flight -= 1
                        if result.status != "sending":  # "sending" = handed back unsent
                            pending.append(result)
                            tally(result)
                    result = done.get_nowait()
            except queue.Empty:
                pass
            if pending and (len(pending) >= RECORD_EVERY or time.monotonic() - last_record >= RECORD_SECONDS):
                store.record(pending)
                pending, last_record = [], time.monotonic()
            if in_flight > 0:
                continue
            if stop.is_set() or give_up.is_set():
                break
            if exhausted:
                if pending:
                    store.record(pending)
                    pending = []
                due = store.next_retry(campaign.id)
                wait = (due - now()).total_seconds() if due else None
                if wait is not None and wait <= retry_wait:
                    # Said, or a dead relay's minutes of waiting look like a hang.
                    log.warning(
                        "%d message(s) deferred by the relay; retrying in %.0fs (Ctrl-C stops, they stay queued)",
                        len(deferred),
                        max(0.0, wait),
                    )
                    if stop.wait(max(0.0, wait)):
                        break
                    exhausted = False
                    continue
                break
    finally:
        # However the loop ended (an exception too), what no worker has started goes back unsent
        # at once, instead of being mailed while this waits.
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                done.put(Delivery(item.id, item.subscriber_id, "sending", "not sent: stopped"))
        for _ in threads:
            work.put(None)
        for t in threads:
            t.join(timeout=max(5.0, config.settings.smtp.timeout + 1))
        while True:
            try:
                result = done.get_nowait()
            except queue.Empty:
                break
            if isinstance(result, Delivery) and result.status != "sending":
                pending.append(result)
                tally(result)
        store.record(pending)
        summary.deferred = len(deferred)
        store.release()  # whatever was claimed but never sent goes back to the queue
        summary.bounced = store.mark_bounced(news.bounce_limit)
        store.finish_if_done(campaign.id)
        summary.seconds = time.monotonic() - started
        summary.stopped = stop.is_set()
    if fatal is not None:
        raise SendError(str(fatal))
    if give_up.is_set():
        s = config.settings.smtp
        raise SendError(
            f"SMTP server {s.host}:{s.port} unreachable; {summary.sent} sent, the rest stays queued for the next "
            "`publisher send`"
        )
    return summary


def _deferred(item: OutboxItem, reason: str, retry_delay: float, max_attempts: int) -> Delivery:
    if item.attempts >= max_attempts:
        return Delivery(item.id, item.subscriber_id, "failed", f"gave up after {item.attempts} tries: {reason}")
    retry_at = now() + timedelta(seconds=backoff(item.attempts, retry_delay))
    return Delivery(item.id, item.subscriber_id, "deferred", reason, retry_at=retry_at)


def _outcome(item: OutboxItem, reply: Reply, retry_delay: float, max_attempts: int) -> Delivery:
    if reply.outcome == "sent":
        return Delivery(item.id, item.subscriber_id, "sent", str(reply), at=now())
    if reply.outcome == "permanent":
        return Delivery(item.id, item.subscriber_id, "failed", str(reply), permanent=True)
    return _deferred(item, str(reply), retry_delay, max_attempts)


def _count(summary: SendSummary, result: Delivery) -> None:
    """A message's final outcome (deferred ones are counted at the end: see drain's tally)."""
    if result.status in ("sent", "failed", "skipped"):
        setattr(summary, result.status, getattr(summary, result.status) + 1)


def drain_in_processes(
    store: Store,
    campaign: Campaign,
    config: Config,
    processes: int,
    *,
    stop: threading.Event,
    advance: Advance = lambda n: None,
    retry_wait: float = 0.0,
    retry_delay: float = 60.0,
) -> SendSummary:
    """`drain` in several forked processes sharing the campaign through the outbox leases:
    Python builds, signs and sends on one core per process. Each child holds
    connections/processes SMTP sessions; they die with this process, whatever kills it."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    events = ctx.Queue()
    halt = ctx.Event()
    share = max(1, config.settings.smtp.connections // processes)
    settings = dataclasses.replace(config.settings, smtp=dataclasses.replace(config.settings.smtp, connections=share))
    child_config = dataclasses.replace(config, settings=settings)
    args = (store, campaign, child_config, halt, events, retry_wait, retry_delay)
    children = [ctx.Process(target=_child, args=args, name=f"send-{i}", daemon=True) for i in range(processes)]
    started = time.monotonic()
    gc.collect()
    gc.freeze()  # a collection in a child would otherwise un-share every page it inherited
    try:
        for child in children:
            child.start()
    finally:
        gc.unfreeze()
    total, errors, finished = SendSummary(), [], 0
    try:
        while finished < len(children):
            if stop.is_set():
                halt.set()
            try:
                kind, value = events.get(timeout=0.1)
            except queue.Empty:
                if not any(c.is_alive() for c in children) and events.empty():
                    break
                continue
            if kind == "sent":
                advance(value)
            elif kind == "done":
                total.add(SendSummary(**value))
                finished += 1
            elif kind == "error":
                errors.append(value)
                finished += 1
    except BaseException:  # Ctrl-C here: the children park their work and stop
        halt.set()
        raise
    finally:
        if stop.is_set() or errors:
            halt.set()
        for child in children:
            child.join(timeout=max(10.0, config.settings.smtp.timeout + 5))
            if child.is_alive():
                child.kill()
    # The children marked their own bounces (counted in their summaries); this catches a child
    # that was killed before it could.
    total.bounced += store.mark_bounced(config.settings.newsletter.bounce_limit)
    store.finish_if_done(campaign.id)
    total.stopped = stop.is_set()
    total.seconds = time.monotonic() - started  # wall time, not the children's summed times
    if errors:
        raise SendError(errors[0])
    return total


def _child(
    store: Store, campaign: Campaign, config: Config, halt: Any, events: Any, retry_wait: float, retry_delay: float
) -> None:
    import signal

    from publisher.messages import MessageFactory, signer_for
    from publisher.subscriptions import Tokens, secret_key

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tells us via `halt`
    store.engine.dispose(close=False)  # never touch the parent's pooled connections
    mine = Store(store.url)
    sent = [0, time.monotonic()]

    def advance(n: int) -> None:
        sent[0] += n
        if sent[0] >= 100 or time.monotonic() - sent[1] > 0.2:
            events.put(("sent", sent[0]))
            sent[0], sent[1] = 0, time.monotonic()

    try:
        factory = MessageFactory(campaign, config, Tokens(secret_key()), signer_for(config))
        summary = drain(
            mine, campaign, config, factory, stop=halt, advance=advance, retry_wait=retry_wait, retry_delay=retry_delay
        )
        events.put(("sent", sent[0]))
        events.put(("done", dataclasses.asdict(summary)))
    except Exception as exc:
        events.put(("error", str(exc)))
    finally:
        mine.close()


def _die_with_parent() -> None:
    """Linux: if the parent dies (even by SIGKILL), so does this child; nothing orphaned keeps sending."""
    import ctypes
    import signal

    with contextlib.suppress(OSError):  # not Linux: the parent's `halt` still stops us
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
