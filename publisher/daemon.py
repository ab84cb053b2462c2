"""`publisher run`: APScheduler wiring only. The only importer of apscheduler and watchdog.

Jobs (explicit ids, coalesced, one instance each; durable state is in our database, not
in the job store):
- `cycle`: rebuild the feeds, ping WebSub hubs for the feeds that changed, create a campaign
  per newly published post, and (with `auto_send`) start `send`. Run at start, on file
  events (debounced until the files are still), every `rescan_minutes`, and at the exact
  moment the next scheduled post goes live or a post expires.
- `send`: drain every campaign with deliverable messages; loops until none is left.
- `retry`: every `retry_minutes`, `send` again for deferred deliveries that came due.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from publisher import urls, websub
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.posts import MARKDOWN_SUFFIXES

log = logging.getLogger("publisher.daemon")

MAX_DEBOUNCE_WAIT = 60.0  # a file that never settles is read anyway after this long


class _Changes(FileSystemEventHandler):
    """Events that can change a build: Markdown files and folders in content_dir, never what
    publisher itself writes there (output_dir, cache_dir inside content_dir would otherwise
    make every build trigger the next). Editors' temp files and bundle images are ignored."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        config = daemon.config
        self.own = tuple(os.path.join(os.fspath(d), "") for d in (config.output_dir, config.cache_dir))

    def on_any_event(self, event: FileSystemEvent) -> None:
        # A folder's "modified" only says its entries changed: those entries have events of their own.
        if event.event_type in ("opened", "closed_no_write") or (event.is_directory and event.event_type == "modified"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(path)
            if path and self.relevant(path, event.is_directory):
                self.daemon.changed(path)

    def relevant(self, path: str, is_directory: bool) -> bool:
        if (path + os.sep).startswith(self.own):
            return False
        return is_directory or path.lower().endswith(MARKDOWN_SUFFIXES)


class Daemon:
    def __init__(self, config: Config, *, serve: bool = False):
        self.config = config
        self.stop = threading.Event()
        self.lock = threading.Lock()  # one cycle at a time
        self.first_change: float | None = None
        self.changed_paths: set[str] = set()  # named by file events since the last cycle
        self.newsletter = bool(config.settings.newsletter.sender and config.settings.newsletter.unsubscribe_url)
        self.auto_send = self.newsletter and config.settings.newsletter.auto_send
        self.store: Any = None
        self.web: Any = None
        self.failed = False  # stopped by a failure (its web server died), not by a signal
        self.serve = serve
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 24 * 3600},
        )

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        """Run until SIGTERM/SIGINT (or `stop`); then finish or park what is in flight."""
        sock = None
        if self.serve:
            from publisher.web import listen

            sock = listen(self.config)  # a port in use stops the start, with one line
        if self.newsletter:
            from publisher.campaigns import open_store, record_baseline
            from publisher.subscriptions import secret_key

            secret_key()  # a clear error now rather than at the first send
            self.store = open_store(self.config)
            record_baseline(self.config, self.store)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        observer = Observer()
        observer.schedule(_Changes(self), str(self.config.content_dir), recursive=True)
        observer.start()
        d = self.config.settings.daemon
        self.scheduler.start()
        self.scheduler.add_job(self.cycle, "interval", minutes=d.rescan_minutes, id="rescan", args=["rescan"])
        if self.auto_send:
            self.scheduler.add_job(self.send, "interval", minutes=d.retry_minutes, id="retry")
        self.scheduler.add_job(self.cycle, id="cycle", args=["start"], replace_existing=True)
        if sock is not None:
            self._start_web(sock)
        log.info(
            "event=start content=%s output=%s newsletter=%s auto_send=%s serve=%s",
            self.config.content_dir,
            self.config.output_dir,
            self.newsletter,
            self.auto_send,
            self.serve,
        )
        try:
            self.stop.wait()
        finally:
            log.info("event=stopping")
            observer.stop()
            if self.web is not None:
                self.web.should_exit = True
            self.scheduler.shutdown(wait=True)  # running jobs see `stop` and park their work
            observer.join(timeout=5)
            if self.store is not None:
                self.store.close()
            log.info("event=stopped")

    def _start_web(self, sock: Any) -> None:
        from publisher.web import serve

        self.web = web = serve(self.config)
        web.config.install_signal_handlers = False  # ours handle SIGTERM/SIGINT

        def run() -> None:
            try:
                web.run(sockets=[sock])
            finally:
                if not self.stop.is_set():  # the endpoints are down: the service must not look healthy
                    log.error("event=web-stopped the web server stopped; stopping")
                    self.failed = True
                    self.stop.set()

        threading.Thread(target=run, name="web", daemon=True).start()

    # -- triggers --------------------------------------------------------------------------
    def changed(self, path: str) -> None:
        """A file event: (re)arm the cycle for when things have been still for a while."""
        self.changed_paths.add(path)
        if self.first_change is None:
            self.first_change = time.monotonic()
        self._arm_cycle()

    def _arm_cycle(self) -> None:
        """(Re)schedule the change cycle one debounce interval from now."""
        self.scheduler.add_job(
            self.cycle,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=self.config.settings.daemon.debounce_seconds),
            id="cycle",
            args=["change"],
            replace_existing=True,
        )

    # -- jobs ------------------------------------------------------------------------------
    def cycle(self, reason: str) -> None:
        from publisher.publishing import build

        if self.stop.is_set():
            return
        with self.lock:
            if reason == "change" and self._unsettled():
                return
            self.first_change = None
            self.changed_paths.clear()
            started = time.monotonic()
            try:
                report = build(self.config)
            except PublisherError as exc:
                log.error("event=build-failed error=%s", exc)
                return
            for problem in report.site.problems:
                log.warning("event=rejected %s", problem)
            log.info(
                "event=build reason=%s published=%d written=%d unchanged=%d removed=%d seconds=%.3f",
                reason,
                report.site.count("published"),
                len(report.written),
                report.unchanged,
                len(report.removed),
                time.monotonic() - started,
            )
            changed = sorted({urls.absolute(self.config.base_url, p) for p in report.written + report.removed})
            if changed and self.config.settings.websub_hubs:
                websub.ping(self.config.settings.websub_hubs, changed)
            self._schedule_next(report.site)
            created = self._campaigns() if self.newsletter else []
        # New campaigns go out now; so, at start, does one a stop left unfinished (it waited for
        # the retry interval, minutes).
        if self.auto_send and (created or (reason == "start" and self.store.campaigns_to_send())):
            self.scheduler.add_job(self.send, id="send", replace_existing=True)

    def _unsettled(self) -> bool:
        """True (and the cycle re-armed) while a changed file was modified too recently."""
        window = self.config.settings.daemon.debounce_seconds
        newest = 0.0
        for path in list(self.changed_paths):
            try:
                newest = max(newest, os.stat(path).st_mtime)
            except OSError:
                continue  # deleted or renamed away: nothing to wait for
        waited = time.monotonic() - (self.first_change or time.monotonic())
        if time.time() - newest < window and waited < MAX_DEBOUNCE_WAIT:
            self._arm_cycle()
            return True
        return False

    def _schedule_next(self, site: Any) -> None:
        """Wake up exactly when the next scheduled post goes live or a published one expires."""
        now = site.now.timestamp()
        times = [e.publish for e in site.entries("scheduled")]
        times += [e.expiry for e in site.entries("published") if e.expiry is not None and e.expiry > now]
        if not times:
            return
        when = datetime.fromtimestamp(min(times), UTC) + timedelta(milliseconds=50)
        self.scheduler.add_job(self.cycle, "date", run_date=when, id="timed", args=["schedule"], replace_existing=True)
        log.info("event=scheduled next=%s", when.isoformat())

    def _campaigns(self) -> list:
        from publisher import campaigns

        try:
            plan = campaigns.plan_send(self.config, self.store)
            created = campaigns.create_campaigns(self.config, self.store, plan) if plan.posts else []
        except PublisherError as exc:
            log.error("event=campaign-failed error=%s", exc)
            return []
        for new, old, mailed in plan.renamed:
            log.warning("event=renamed %s", campaigns.renamed_note(new, old, mailed))
        for campaign in created:
            log.info("event=campaign id=%d subject=%r auto_send=%s", campaign.id, campaign.subject, self.auto_send)
        return created

    def send(self) -> None:
        from publisher import campaigns
        from publisher.outbox import SendError

        def progress(campaign: Any, total: int) -> Callable[[int], None]:  # a long send is no silence
            return campaigns.periodic_progress(campaign, total, lambda line: log.info("event=sending %s", line), 10)

        while not self.stop.is_set():
            try:
                summary = campaigns.send_queued(
                    self.config, self.store, stop=self.stop, retry_wait=0, progress=progress
                )
            except (SendError, PublisherError) as exc:
                log.error("event=send-failed error=%s", exc)
                return
            if summary.sent or summary.failed or summary.deferred:
                log.info(
                    "event=sent sent=%d deferred=%d failed=%d skipped=%d seconds=%.1f",
                    summary.sent,
                    summary.deferred,
                    summary.failed,
                    summary.skipped,
                    summary.seconds,
                )
            if not summary.sent and not summary.failed:
                return  # nothing deliverable is left; deferred rows wait for `retry`
