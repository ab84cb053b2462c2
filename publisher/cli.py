"""The `publisher` command: parse arguments, call one library function, print the result."""

from __future__ import annotations

import atexit
import contextlib
import gc
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from publisher import __version__
from publisher.config import Config, load_config
from publisher.errors import PublisherError


class Context:
    def __init__(self, config_path: Path | None):
        self.config_path = config_path

    def config(self) -> Config:
        return load_config(self.config_path)


class _Group(click.Group):
    """Prints a PublisherError as one line for the operator (tracebacks are for bugs)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PublisherError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="PUBLISHER_CONFIG",
    help="Config file (default: ./publisher.toml; env PUBLISHER_CONFIG).",
)
@click.version_option(__version__, prog_name="publisher")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Publish a Hugo-style content/ folder as RSS, Atom and JSON feeds and an email newsletter."""
    ctx.obj = Context(config_path)


class _Bar:
    """click.progressbar on a terminal, nothing otherwise (logs stay clean)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, label: str, total: int) -> Callable[[int], None]:
        self.close()
        if not sys.stderr.isatty() or total < 50:
            return lambda n: None
        self.bar = click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True, show_pos=True)
        self.bar.__enter__()
        return self.bar.update

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextmanager
def _progress() -> Iterator[_Bar]:
    bar = _Bar()
    try:
        yield bar
    finally:
        bar.close()


def _one_shot() -> None:
    """A command that exits when done. A build makes ~100,000 small objects, none of them in
    cycles worth collecting, and each cyclic GC pass (the one at exit too) would walk them all
    again: exit frees them. SIGTERM (a service manager or `timeout` stopping it) unwinds like
    Ctrl-C, so a half-written feed's temporary file is removed and the cache rolls back."""
    from publisher import workers

    gc.disable()
    atexit.register(gc.freeze)
    signal.signal(signal.SIGTERM, workers.stop_by_signal)
    signal.signal(signal.SIGINT, workers.stop_by_signal)
    sys.unraisablehook = workers.quiet_lost_stops


def _print_problems(problems: list) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


def _summary(report) -> str:
    from publisher.posts import display_path

    site = report.site
    scheduled = sorted(site.with_status("scheduled"), key=lambda p: p.publish_date)
    parts = [
        f"{site.count('published')} published",
        f"{site.count('draft')} drafts",
        f"{len(scheduled)} scheduled",
        f"{site.count('expired')} expired",
        f"{site.count('unlisted')} unlisted",
        f"{len({p.path for p in site.problems})} rejected",  # files: one may have several problems
    ]
    if site.other_languages:  # a multilingual Hugo site: say where the rest of its pages went
        parts.append(f"{site.other_languages} in other languages")
    lines = [", ".join(parts)]
    for post in scheduled:
        shown = display_path(site.config.content_dir / post.relpath)  # as problems show paths
        lines.append(f"  scheduled: {shown} at {post.publish_date.isoformat()}")
    return "\n".join(lines)


@cli.command()
@click.option("--timings", is_flag=True, help="Print how long each stage took.")
@click.pass_obj
def build(obj: Context, timings: bool) -> None:
    """Write the feeds for every published post into output_dir; exit 1 if any post is rejected."""
    from publisher.publishing import build as run_build

    _one_shot()
    config = obj.config()
    started = time.perf_counter()
    with _progress() as bar:
        report = run_build(config, progress=bar)
    _print_problems(report.site.problems + report.warnings)
    click.echo(_summary(report))
    click.echo(
        f"{report.feeds} feeds: {len(report.written)} files written, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed, in {config.output_dir} ({time.perf_counter() - started:.2f}s)"
    )
    if timings:
        click.echo("timings: " + ", ".join(f"{k} {v:.3f}s" for k, v in report.timings.items()))
        click.echo(f"helper process: {report.helper_jobs} jobs")
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.pass_obj
def check(obj: Context) -> None:
    """Load and render everything, write nothing; exit 1 if any post is rejected."""
    from publisher.publishing import check as run_check

    _one_shot()
    config = obj.config()
    with _progress() as bar:
        report = run_check(config, progress=bar)
    _print_problems(report.site.problems + report.warnings)
    click.echo(_summary(report))
    if not report.ok:
        sys.exit(1)


def main() -> None:
    cli()


# -- the newsletter ------------------------------------------------------------------------
@cli.group(cls=_Group)
def subscribers() -> None:
    """Manage the mailing list."""


def _store(obj: Context):
    from publisher.campaigns import open_store

    return open_store(obj.config())


def _report_import(report) -> None:
    for problem in report.problems:
        click.echo(problem, err=True)
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {len(report.problems)} rejected"
    )
    if report.problems:
        sys.exit(1)


@subscribers.command("add")
@click.argument("emails", nargs=-1, required=True)
@click.option("--name", default="", help="Display name (for every address given).")
@click.option("--topic", "topics", multiple=True, help="Only posts with this tag or category (repeatable).")
@click.pass_obj
def subscribers_add(obj: Context, emails: tuple[str, ...], name: str, topics: tuple[str, ...]) -> None:
    """Add confirmed subscribers (you vouch for them)."""
    from publisher import subscriptions

    _report_import(subscriptions.add(_store(obj), emails, name, topics))


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
def subscribers_remove(obj: Context, email: str) -> None:
    """Unsubscribe an address (kept, so no import can bring it back)."""
    from publisher import subscriptions

    subscriptions.remove(_store(obj), email)
    click.echo(f"{email}: unsubscribed")


@subscribers.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "confirmed", "unsubscribed", "bounced", "complained"]),
    help="Only subscribers with this status.",
)
@click.pass_obj
def subscribers_list(obj: Context, status: str | None) -> None:
    """One line per subscriber: email, status, name, topics."""
    for sub in _store(obj).iter_subscribers(status):
        click.echo("\t".join([sub.email, sub.status, sub.name, ";".join(sub.topics)]))


@subscribers.command("count")
@click.pass_obj
def subscribers_count(obj: Context) -> None:
    """Subscribers per status."""
    counts = _store(obj).count_subscribers()
    click.echo(", ".join(f"{n} {status}" for status, n in counts.items()) + f"; {sum(counts.values())} in all")


@subscribers.command("import")
@click.argument("file", type=click.File("rb"))
@click.pass_obj
def subscribers_import(obj: Context, file) -> None:
    """Import a CSV (email, name, topics separated by ';'); bad rows are reported and skipped."""
    import io

    from publisher import subscriptions

    text = subscriptions.csv_text(file.read(), file.name)
    _report_import(subscriptions.import_csv(_store(obj), io.StringIO(text, newline=""), file.name))


@subscribers.command("export")
@click.pass_obj
def subscribers_export(obj: Context) -> None:
    """Every subscriber as CSV on standard output."""
    from publisher import subscriptions

    for chunk in subscriptions.export_csv(_store(obj).iter_subscribers()):
        click.echo(chunk, nl=False)


@cli.command()
@click.argument("slug", required=False)
@click.option("--digest", is_flag=True, help="Bundle all unsent posts into one email.")
@click.option("--backfill", is_flag=True, help="Also mail posts published before the mailing list existed.")
@click.option("--dry-run", is_flag=True, help="Render everything and report; send and record nothing.")
@click.option("--to", "to", metavar="EMAIL", help="Send one test copy of SLUG to EMAIL; record nothing.")
@click.option("--yes", "-y", is_flag=True, help="Don't ask for confirmation (required without a terminal).")
@click.option(
    "--retry-wait",
    type=float,
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for deferred messages whose retry comes due before exiting.",
)
@click.pass_obj
def send(
    obj: Context,
    slug: str | None,
    digest: bool,
    backfill: bool,
    dry_run: bool,
    to: str | None,
    yes: bool,
    retry_wait: float,
) -> None:
    """Email every published post not mailed yet (or SLUG) to the confirmed subscribers."""
    from publisher import campaigns, messages, subscriptions

    config = obj.config()
    messages.require_sending_config(config)
    subscriptions.secret_key()  # a clear error before anything is sent
    if to:
        if not slug:
            raise click.UsageError("--to needs a SLUG: publisher send SLUG --to you@example.com")
        campaigns.send_test_copy(config, slug, to)
        click.echo(f"test copy of {slug} sent to {to}; nothing recorded")
        return
    store = campaigns.open_store(config)
    plan = campaigns.plan_send(config, store, slug, digest=digest, backfill=backfill, record=not dry_run)
    _describe_plan(plan)
    if plan.empty:
        return
    if dry_run:
        _dry_run(config, store, plan)
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("no terminal to confirm on: add --yes to send")
        click.confirm("Send?", abort=True)
    created = campaigns.create_campaigns(config, store, plan)
    for campaign in created:
        click.echo(f"campaign {campaign.id}: {campaign.subject}")
    _run_send(config, store, retry_wait)


def _describe_plan(plan) -> None:
    from publisher.campaigns import renamed_note

    for campaign in plan.resuming:
        click.echo(f"resuming campaign {campaign.id}: {campaign.subject}")
    if plan.posts:
        what = "one digest of" if plan.digest else "one email each for"
        click.echo(f"{what} {len(plan.posts)} post(s), to {plan.recipients} confirmed subscriber(s):")
        for post in plan.posts:
            click.echo(f"  {post.slug}: {post.title}")
    for new, old, mailed in plan.renamed:
        click.echo(renamed_note(new, old, mailed))
    if plan.skipped_old:
        click.echo(
            f"{plan.skipped_old} post(s) published before the mailing list existed are not mailed "
            "(use --backfill to mail them)"
        )
    if plan.empty:
        click.echo("nothing to send")


def _dry_run(config: Config, store, plan) -> None:
    from publisher import campaigns

    for subject, count, size in campaigns.dry_run(config, store, plan):
        click.echo(f"would send {subject!r} to {count} subscriber(s), {size / 1e6:.1f} MB in all")


def _run_send(config: Config, store, retry_wait: float) -> None:
    import signal
    import threading

    from publisher import campaigns
    from publisher.outbox import SendError

    # Ctrl-C and SIGTERM stop the send, never interrupt it: the messages in flight finish and
    # everything the relay accepted is recorded (an exception here lost those records, and the
    # next send mailed them again), the rest stays queued. Pressing Ctrl-C again changes nothing.
    stop = threading.Event()
    stopped_by: list[int] = []

    def on_stop(signum: int, frame: object) -> None:
        stop.set()  # first: a write below can fail (a signal landing mid-write is a reentrant call)
        stopped_by.append(signum)
        if len(stopped_by) == 1:
            with contextlib.suppress(Exception):
                click.echo("\nstopping: finishing the messages in flight, the rest stays queued", err=True)

    previous = {signum: signal.signal(signum, on_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    bars = []

    def progress(campaign, total: int):
        return _send_progress(campaign, total, bars)

    try:
        summary = campaigns.send_queued(config, store, stop=stop, progress=progress, retry_wait=retry_wait)
    except SendError as exc:
        raise PublisherError(str(exc)) from None
    finally:
        for signum, handler in previous.items():  # once stopped, a signal has nothing left to stop
            signal.signal(signum, signal.SIG_IGN if stopped_by else handler)
        for bar in bars:
            bar.close()
    click.echo(
        f"{summary.sent} sent, {summary.deferred} deferred, {summary.failed} failed, {summary.skipped} skipped"
        + (f", {summary.bounced} subscriber(s) marked bounced" if summary.bounced else "")
        + f" in {summary.seconds:.1f}s"
    )
    for campaign in store.campaigns_to_send():
        left = store.progress(campaign.id)
        leased = f", {left['sending']} being sent by another process" if left["sending"] else ""
        click.echo(
            f"campaign {campaign.id} not finished: {left['deferred']} deferred, {left['queued']} queued{leased}; "
            "run `publisher send` again later"
        )
    if stopped_by:
        sys.exit(128 + stopped_by[0])  # as a shell reports a command a signal stopped


def _send_progress(campaign, total: int, bars: list):
    """tqdm (rate and ETA) on a terminal; a log line every 5 seconds otherwise."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"campaign {campaign.id}", unit="msg", file=sys.stderr)
        bars.append(bar)
        return bar.update
    from publisher import campaigns

    return campaigns.periodic_progress(campaign, total, lambda line: click.echo(line, err=True), every=5)


@cli.command()
@click.argument("slug")
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default="preview",
    show_default=True,
    help="Folder to write the files into.",
)
@click.option("--to", "to", default="subscriber@example.com", show_default=True, help="Recipient shown in the copy.")
@click.pass_obj
def preview(obj: Context, slug: str, folder: Path, to: str) -> None:
    """Write SLUG's email as .eml, .html and .txt, and print their paths."""
    from publisher import campaigns

    for path in campaigns.preview(obj.config(), slug, folder, to):
        click.echo(str(path))


@cli.command()
@click.pass_obj
def status(obj: Context) -> None:
    """Each campaign's progress."""
    store = _store(obj)
    rows = store.all_campaigns()
    if not rows:
        click.echo("no campaigns yet")
    for campaign in rows:
        p = store.progress(campaign.id)
        total = sum(p.values())
        click.echo(
            f"{campaign.id:>4}  {campaign.status:<8} {p['sent']}/{total} sent, {p['deferred']} deferred, "
            f"{p['failed']} failed, {p['skipped']} skipped  {campaign.created_at:%Y-%m-%d %H:%M}  {campaign.subject}"
        )


# -- running as a service ------------------------------------------------------------------
@cli.command()
@click.option("--serve", "with_web", is_flag=True, help="Also run the subscription endpoints (as `publisher serve`).")
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@click.option("--quiet", "-q", is_flag=True, help="Warnings and errors only.")
@click.pass_obj
def run(obj: Context, with_web: bool, verbose: bool, quiet: bool) -> None:
    """Run as a service: watch content_dir, rebuild the feeds, create (and with auto_send, send) campaigns."""
    from publisher.daemon import Daemon

    configure_logging(1 if verbose else -1 if quiet else 0)
    daemon = Daemon(obj.config(), serve=with_web)
    daemon.run()
    if daemon.failed:
        sys.exit(1)  # stopped by a failure, not asked to: a service manager restarts it


@cli.command()
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@click.option("--quiet", "-q", is_flag=True, help="Warnings and errors only.")
@click.pass_obj
def serve(obj: Context, verbose: bool, quiet: bool) -> None:
    """Serve subscribe / confirm / unsubscribe (and the feeds) over HTTP."""
    from publisher.web import listen
    from publisher.web import serve as make_server

    configure_logging(1 if verbose else -1 if quiet else 0)
    config = obj.config()
    sock = listen(config)
    try:
        make_server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has shut down
        sys.exit(130)


def configure_logging(verbosity: int) -> None:
    """Structured lines with UTC timestamps: `2026-01-05T04:00:00Z level=INFO logger=... event=...`."""
    import logging  # only the long-running commands log

    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler()
    formatter = logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING if verbosity < 1 else logging.INFO)
    logging.getLogger("MARKDOWN").setLevel(logging.WARNING)  # its debug lines name every extension loaded
