"""The `publisher` command: parse arguments, call one library function, print the result."""

from __future__ import annotations

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def _print_problems(problems: list) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


def _summary(report) -> str:
    site = report.site
    scheduled = sorted(site.with_status("scheduled"), key=lambda p: p.publish_date)
    parts = [
        f"{site.count('published')} published",
        f"{site.count('draft')} drafts",
        f"{len(scheduled)} scheduled",
        f"{site.count('expired')} expired",
        f"{len(site.problems)} rejected",
    ]
    lines = [", ".join(parts)]
    for post in scheduled:
        lines.append(f"  scheduled: {post.relpath} at {post.publish_date.isoformat()}")
    return "\n".join(lines)


@cli.command()
@click.option("--timings", is_flag=True, help="Print how long each stage took.")
@click.pass_obj
def build(obj: Context, timings: bool) -> None:
    """Write the feeds for every published post into output_dir."""
    from publisher.publishing import build as run_build

    config = obj.config()
    started = time.perf_counter()
    with _progress() as bar:
        report = run_build(config, progress=bar)
    _print_problems(report.site.problems)
    click.echo(_summary(report))
    click.echo(
        f"{report.feeds} feeds: {len(report.written)} files written, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed, in {config.output_dir} ({time.perf_counter() - started:.2f}s)"
    )
    if timings:
        click.echo("timings: " + ", ".join(f"{k} {v:.3f}s" for k, v in report.timings.items()))
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.pass_obj
def check(obj: Context) -> None:
    """Load and render everything, write nothing; exit 1 if any post is rejected."""
    from publisher.publishing import check as run_check

    config = obj.config()
    with _progress() as bar:
        report = run_check(config, progress=bar)
    _print_problems(report.site.problems)
    click.echo(_summary(report))
    if not report.ok:
        sys.exit(1)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PublisherError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
