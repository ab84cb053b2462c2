"""The newsletter use cases: which posts still need mailing, their campaigns, sending, previews.

Published posts -> campaigns (rendered once, a snapshot) -> outbox rows -> `outbox.drain`.
A post is mailed at most once: its URL is recorded with its campaign under a unique key, and
its identity (publish time and title) with that URL, so a post whose file is renamed (a new
URL) is recognized and not mailed again.
Posts published before the mailing list existed are recorded once as its baseline and count
as sent unless backfilled, so the first send on an old blog doesn't mail the archive, while
any post that appears later (even one dated in the past) is new.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from publisher import messages, outbox, shortcodes
from publisher import posts as posts_mod
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.models import Campaign, Post
from publisher.outbox import Advance, SendError, SendSummary, drain
from publisher.publishing import current_site
from publisher.rendering import Renderer
from publisher.store import Store
from publisher.subscriptions import Tokens, secret_key
from publisher.transport import ConnectionLost, check_reachable

Progress = Callable[[Campaign, int], Advance]
"""progress(campaign, messages to send) -> advance(n), for the CLI's progress bar."""


class NothingToSend(PublisherError):
    exit_code = 1


def open_store(config: Config) -> Store:
    return Store.open(config.database_url)


@dataclass
class SendPlan:
    """What `publisher send` is about to do, shown to the operator before it starts."""

    posts: list[Post]
    digest: bool
    recipients: int
    resuming: list[Campaign] = field(default_factory=list)
    skipped_old: int = 0  # published before the list existed, not backfilled
    renamed: list[tuple[str, str, bool]] = field(default_factory=list)  # (new URL, old URL, old one mailed)

    @property
    def empty(self) -> bool:
        return not self.posts and not self.resuming


def plan_send(
    config: Config,
    store: Store,
    slug: str | None = None,
    *,
    digest: bool = False,
    backfill: bool = False,
    now: datetime | None = None,
    record: bool = True,
) -> SendPlan:
    """What a send would mail. With record=False (a dry run), a renamed post is recognized but
    not recorded as such."""
    now = now or datetime.now(UTC)
    site = current_site(config, now)
    mailed = store.mailed_posts()
    published = list(reversed(site.published_index()))  # oldest first: mail in publishing order
    if slug is not None:
        chosen = [e for e in published if e.slug == slug]
        if not chosen:
            known = {e.slug for e in site.index}
            why = "is not published (draft, scheduled or expired)" if slug in known else _no_post(slug, known)
            raise NothingToSend(f"slug {slug!r} {why}")
        if chosen[0].url in mailed:
            raise NothingToSend(f"{slug!r} was already mailed; see `publisher status`")
        old = store.post_identities().get(identity(chosen[0].title, chosen[0].publish))
        if old is not None and old in mailed:  # (a renamed archive post may be named, as any)
            raise NothingToSend(f"{slug!r} {_RENAMED.format(old=old)}")
        entries, skipped, renamed = chosen, 0, []
    else:
        archive = store.baseline((e.url, e.publish) for e in published)
        renamed = _renamed(store, published, mailed, archive, record)
        # Each counts as what it was: mailed, or archive.
        mailed = mailed | {new for new, _, was_mailed in renamed if was_mailed}
        archive = archive | {new for new, _, was_mailed in renamed if not was_mailed}
        unsent = [e for e in published if e.url not in mailed]
        entries = [e for e in unsent if backfill or e.url not in archive]
        skipped = len(unsent) - len(entries)
    posts = site.load(entries)
    terms = {t for p in posts for t in (*p.tags, *p.categories)}
    return SendPlan(
        posts=posts,
        digest=digest and len(posts) > 1,
        recipients=store.count_recipients(terms) if posts else 0,
        resuming=store.campaigns_to_send(),
        skipped_old=skipped,
        renamed=renamed,
    )


_RENAMED = (
    "has the title and publish date of {old}, mailed before (a renamed file or a new slug?): "
    "not mailed again; if it is another post, change its title or date"
)
_RENAMED_ARCHIVE = (
    "has the title and publish date of {old}, published before the mailing list existed (a renamed "
    "file or a new slug?): archive, as that one"
)


def renamed_note(new: str, old: str, mailed: bool = True) -> str:
    return f"{new} {(_RENAMED if mailed else _RENAMED_ARCHIVE).format(old=old)}"


def identity(title: str, publish: float) -> str:
    """What the newsletter knows a post by besides its URL: renaming its file or changing its
    slug gives it a new URL, never a new title and publish time."""
    return hashlib.sha256(f"{publish:.0f}\n{title}".encode()).hexdigest()


def _renamed(
    store: Store, published: list, mailed: set[str], archive: set[str], record: bool
) -> list[tuple[str, str, bool]]:
    """(new URL, old URL, old one mailed) of each post not counted yet that has the identity of
    one mailed or archived under another URL; with `record`, recorded, so it counts as that one
    from now on. Identities of counted posts not recorded yet (mailed before identities were
    kept) are recorded on the way, and already count here."""
    known = store.post_identities()
    counted = mailed | archive
    keyed = [(identity(entry.title, entry.publish), entry.url) for entry in published]
    fresh = {}
    for key, url in keyed:
        if url in counted and key not in known and key not in fresh:
            fresh[key] = url
    known = {**fresh, **known}
    renamed = []
    for key, url in keyed:
        old = known.get(key)
        if url not in counted and old is not None and old != url:
            renamed.append((url, old, old in mailed))
    if record and fresh:
        store.remember_identities(fresh)
    if record and renamed:
        store.carry_over({new: old for new, old, _ in renamed})
    return sorted(renamed)


def _no_post(slug: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(slug, known, n=1)
    return "matches no post" + (f"; did you mean {close[0]!r}?" if close else "")


def record_baseline(config: Config, store: Store) -> int:
    """Fix the archive now (a no-op once recorded): `publisher run` does this before it starts
    watching, so a post dropped in a moment later can never be mistaken for archive."""
    site = current_site(config)
    return len(store.baseline((e.url, e.publish) for e in site.published_index()))


def create_campaigns(config: Config, store: Store, plan: SendPlan) -> list[Campaign]:
    """Render and record one campaign per post (or one digest); posts someone else already
    took are left out."""
    renderer = Renderer(config)
    groups = [plan.posts] if plan.digest else [[p] for p in plan.posts]
    created = []
    for group in groups:
        campaign = render_campaign(config, renderer, group)
        identities = {identity(p.title, p.publish_date.timestamp()): p.url for p in group}
        stored = store.create_campaign(campaign, [p.url for p in group], identities)
        if stored is not None:
            created.append(stored)
    return created


def dry_run(config: Config, store: Store, plan: SendPlan) -> list[tuple[str, int, int]]:
    """Render every campaign and every copy the plan would send, send and record nothing:
    (subject, recipients, bytes) per campaign."""
    renderer = Renderer(config)
    tokens = Tokens(secret_key())
    signer = messages.signer_for(config)
    groups = [plan.posts] if plan.digest else [[p] for p in plan.posts]
    report = []
    for group in groups:
        campaign = render_campaign(config, renderer, group)
        factory = messages.MessageFactory(campaign, config, tokens, signer)
        count = size = 0
        for sid, email, name in store.iter_recipients(campaign.terms):
            size += len(factory.build(sid, email, name).data)
            count += 1
        report.append((campaign.subject, count, size))
    return report


def render_campaign(config: Config, renderer: Renderer, group: list[Post]) -> Campaign:
    if renderer.refs is None:  # for ref/relref shortcodes: the site's posts, read if one is used
        renderer.refs = shortcodes.Refs(current_site(config).index, config.hugo_languages)
    # A digest leads with its newest post, the one its subject names (group is oldest first).
    bodies = [(post, _body(config, post)) for post in reversed(group)]
    if len(group) == 1:
        subject = group[0].title
        key, kind = group[0].url, "post"
    else:
        subject = f"{config.settings.title}: {group[-1].title} (+{len(group) - 1})"
        key, kind = "digest:" + "\n".join(p.url for p in group), "digest"
    html, text = renderer.email(bodies, subject, messages.PLACEHOLDER)
    terms = tuple(dict.fromkeys(t for p in group for t in (*p.tags, *p.categories)))
    return Campaign(
        key=key, kind=kind, slugs=tuple(p.slug for p in group), terms=terms, subject=subject, html=html, text=text
    )


def _body(config: Config, post: Post) -> str:
    source = posts_mod.Source(post.path, post.relpath, 0, 0)
    return posts_mod.load_post_and_body(source, config)[1]


def send_queued(
    config: Config,
    store: Store,
    *,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    retry_wait: float = 300.0,
    retry_delay: float = 60.0,
) -> SendSummary:
    """Drain every campaign that still has deliverable messages, oldest first."""
    messages.require_sending_config(config)
    tokens = Tokens(secret_key())
    signer = messages.signer_for(config)
    stop = stop or threading.Event()
    total = SendSummary()
    # A campaign with nothing left to deliver (no recipients at all, or a crash between its
    # last message and this mark) is done: it must neither wait forever nor need the server.
    pending = [c for c in store.campaigns_to_send() if not store.finish_if_done(c.id)]
    if pending:
        try:
            check_reachable(config)
        except ConnectionLost as exc:
            raise SendError(f"SMTP server unreachable: {exc}; nothing was sent, all stays queued") from None
    for campaign in pending:
        left = store.progress(campaign.id)
        todo = left["queued"] + left["sending"] + left["deferred"]
        advance = progress(campaign, todo) if progress else (lambda n: None)
        processes = _processes(config, todo)
        if processes > 1:
            summary = outbox.drain_in_processes(
                store,
                campaign,
                config,
                processes,
                stop=stop,
                advance=advance,
                retry_wait=retry_wait,
                retry_delay=retry_delay,
            )
        else:
            factory = messages.MessageFactory(campaign, config, tokens, signer)
            summary = drain(
                store,
                campaign,
                config,
                factory,
                stop=stop,
                advance=advance,
                retry_wait=retry_wait,
                retry_delay=retry_delay,
            )
        total.add(summary)
        if stop.is_set():
            break
    return total


def periodic_progress(campaign: Campaign, total: int, say: Callable[[str], None], every: float) -> Advance:
    """A send's progress for a log (where no bar can be drawn): a line every `every` seconds
    and one at the end."""
    state = {"done": 0, "last": time.monotonic(), "start": time.monotonic()}

    def advance(n: int) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["last"] >= every or state["done"] == total:
            rate = state["done"] / max(now - state["start"], 1e-9)
            say(f"campaign {campaign.id}: {state['done']}/{total} ({rate:.0f} msg/s)")
            state["last"] = now

    return advance


def _processes(config: Config, messages_to_send: int) -> int:
    """Several sending processes only when there is enough to share (and a core each)."""
    import os

    chosen = config.settings.smtp.processes
    if chosen:  # the operator's choice
        return max(1, min(chosen, config.settings.smtp.connections, messages_to_send))
    by_size = max(1, messages_to_send // outbox.MESSAGES_PER_PROCESS)
    return max(1, min(os.cpu_count() or 1, 8, by_size, config.settings.smtp.connections))


def send_test_copy(config: Config, slug: str, to: str) -> messages.Envelope:
    """Send one copy of a post's email to `to`; nothing is recorded as sent."""
    from publisher.subscriptions import normalize_email
    from publisher.transport import SmtpConfigError, send_one

    envelope = _sample(config, slug, normalize_email(to))
    try:
        reply = send_one(config.settings.smtp, envelope)
    except (ConnectionLost, SmtpConfigError) as exc:  # relay down, login or TLS refused: the operator's to fix
        raise PublisherError(f"the test copy was not sent: {exc}") from None
    if reply.outcome != "sent":
        raise PublisherError(f"{to}: the server refused the test copy: {reply}")
    return envelope


def preview(config: Config, slug: str, folder: Path, to: str = "subscriber@example.com") -> list[Path]:
    """Write the .eml, .html and .txt of a post's email to `folder`; return their paths."""
    envelope = _sample(config, slug, to)
    import email
    from email import policy

    msg = email.message_from_bytes(envelope.data, policy=policy.default)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{slug}.eml", folder / f"{slug}.html", folder / f"{slug}.txt"]
    paths[0].write_bytes(envelope.data)
    paths[1].write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")
    paths[2].write_text(msg.get_body(("plain",)).get_content(), encoding="utf-8")
    return paths


def _sample(config: Config, slug: str, to: str) -> messages.Envelope:
    messages.require_sending_config(config)
    site = current_site(config)
    found = [e for e in site.index if e.slug == slug]
    if not found:
        raise NothingToSend(f"slug {slug!r} {_no_post(slug, {e.slug for e in site.index})}")
    (post,) = site.load(found[:1])
    campaign = render_campaign(config, Renderer(config), [post])
    factory = messages.MessageFactory(campaign, config, Tokens(secret_key()), messages.signer_for(config))
    return factory.build(0, to, "")
