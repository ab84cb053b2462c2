"""Plain data passed between stages. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

Status = Literal["published", "draft", "unlisted", "scheduled", "expired"]
""""unlisted": what Hugo never lists (a headless bundle, `build: {list: never}` and the like)."""


@dataclass(frozen=True)
class Post:
    """A post's front matter, validated and normalized; the body is read when needed."""

    path: str  # the file, as found under content_dir (a str: one Post is made per file per parse)
    relpath: str
    slug: str
    section: str
    url: str
    title: str
    date: datetime
    publish_date: datetime
    lastmod: datetime
    expiry_date: datetime | None
    draft: bool
    description: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    authors: tuple[str, ...]
    source_url: str
    source_name: str
    images: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    listed: bool = True  # False: Hugo keeps it out of every list (see posts.listed)

    def status(self, now: datetime) -> Status:
        return self.index((0, 0)).status(now.timestamp())

    def index(self, stamp: tuple[int, int]) -> PostIndex:
        return PostIndex(
            relpath=self.relpath,
            stamp=stamp,
            slug=self.slug,
            url=self.url,
            date=self.date.timestamp(),
            publish=self.publish_date.timestamp(),
            expiry=self.expiry_date.timestamp() if self.expiry_date else None,
            draft=self.draft,
            tags=self.tags,
            categories=self.categories,
            listed=self.listed,
            title=self.title,
        )


class PostIndex(NamedTuple):
    """What decides where a post appears (status, order, terms): enough to plan a build
    of thousands of posts without loading them. Times are POSIX timestamps. A NamedTuple
    because every build makes one per post and tuples are the cheapest to make."""

    relpath: str
    stamp: tuple[int, int]  # (size, mtime_ns) of the file this was read from
    slug: str
    url: str
    date: float
    publish: float
    expiry: float | None
    draft: bool
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    listed: bool = True
    title: str = ""  # with `publish`, what the newsletter knows a post by when its URL changes

    def __reduce__(self) -> tuple:
        # Pickled as tuple.__new__(PostIndex, fields): unpickling then runs no Python code per
        # entry (NamedTuple's __new__ is Python), which is most of loading a 10,000-post index.
        return (tuple.__new__, (PostIndex, tuple(self)))

    def status(self, now: float) -> Status:
        """Hugo's rules: drafts, future publishDate and past expiryDate stay out of every output."""
        if self.draft:
            return "draft"
        if not self.listed:
            return "unlisted"
        if self.publish > now:
            return "scheduled"
        if self.expiry is not None and self.expiry <= now:
            return "expired"
        return "published"


@dataclass(frozen=True)
class RenderedPost:
    """What feeds and emails need of a post's body: absolute-URL HTML and a text summary."""

    post: Post
    html: str
    summary: str
    refs: tuple[tuple[str, str], ...] = ()  # each ref/relref shortcode as written, and the URL it got
    unknown_shortcodes: tuple[str, ...] = ()  # names of shortcodes with no template (only their content kept)


@dataclass(frozen=True)
class FeedSpec:
    """One feed family (RSS + Atom + JSON) over a list of posts: the site or a term."""

    key: str  # "" for the site, "tags/<term>" or "categories/<term>"
    title: str
    description: str
    page_url: str  # the HTML page the feed belongs to
    posts: tuple[PostIndex, ...]
    # The build's time: the date of a feed with no posts yet (not in its signature, so a later
    # build with still no posts leaves the file as it was written).
    built: datetime | None = None


SubscriberStatus = Literal["pending", "confirmed", "unsubscribed", "bounced", "complained"]


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: SubscriberStatus
    topics: tuple[str, ...]
    bounces: int
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None


@dataclass(frozen=True)
class Campaign:
    """A snapshot of what is mailed (subject and bodies rendered once, with a placeholder
    where each copy gets its recipient's unsubscribe link), so editing a post later never
    changes a campaign half-sent."""

    key: str
    kind: str  # post | digest | baseline (a post published before the list: counted as sent)
    slugs: tuple[str, ...]
    terms: tuple[str, ...]
    subject: str
    html: str
    text: str
    id: int = 0
    status: str = "queued"
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class OutboxItem:
    """One leased delivery: a campaign's copy for one subscriber."""

    id: int
    campaign_id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int
    subscriber_status: str
