"""The database: subscribers, campaigns and the outbox; the only importer of SQLAlchemy.

SQLAlchemy Core, so the same statements run on SQLite (the default, a file beside the
config) and PostgreSQL (several senders at once). Delivery state lives here, never only in
memory: one outbox row per (campaign, subscriber), claimed with a lease before sending and
marked after the SMTP reply, so a crash can neither skip a subscriber nor, beyond the
messages in flight, mail one twice.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher.errors import ConfigError
from publisher.models import Campaign, OutboxItem, Subscriber

SCHEMA_VERSION = 1
STATUSES = ("pending", "confirmed", "unsubscribed", "bounced", "complained")

metadata = sa.MetaData()

meta_table = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # normalized, lower case
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("topics", sa.Text, nullable=False, default=""),  # newline-separated terms
    sa.Column("bounces", sa.Integer, nullable=False, default=0),
    sa.Column("source", sa.String(32), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("unsubscribed_at", sa.DateTime(timezone=True)),
    sa.Index("ix_subscribers_status", "status"),
)

confirmations = sa.Table(
    "confirmations",
    metadata,
    # A confirmation email still to send, kept until the relay takes it (or refuses it for
    # good, or the retries run out): a relay outage or a restart never loses one.
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),  # tries so far
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),  # the next try, or a sender's lease
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # What the campaign mails: a post's URL, "digest:<urls>" or "test:<n>". Unique, so no
    # post can get two campaigns, whoever creates them.
    sa.Column("key", sa.String(2048), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # post | digest | baseline
    sa.Column("slugs", sa.Text, nullable=False, default=""),
    sa.Column("terms", sa.Text, nullable=False, default=""),  # newline-separated tags and categories
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | sending | done | baseline
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)

campaign_posts = sa.Table(
    "campaign_posts",
    metadata,
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    # A post's URL. Unique: a post is in one campaign at most, so it is never mailed twice,
    # even when a daemon and an operator create campaigns at the same moment.
    sa.Column("post_key", sa.String(2048), nullable=False, unique=True),
)

post_identities = sa.Table(
    "post_identities",
    metadata,
    # A mailed (or archived) post's publish time and title, with the URL it had then: a post
    # whose file is renamed (or slug changed) gets a new URL but keeps these, and is not
    # mailed again. See campaigns.identity.
    sa.Column("identity", sa.String(64), primary_key=True),  # campaigns.identity: a SHA-256, hex
    sa.Column("post_key", sa.String(2048), nullable=False),
)

baseline_posts = sa.Table(
    "baseline_posts",
    metadata,
    # Posts already published when the mailing list started: they count as sent (the first
    # send on an old blog must not mail its archive) unless the operator backfills them.
    sa.Column("post_key", sa.String(2048), primary_key=True),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | sending | sent | deferred | failed | skipped
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_reply", sa.Text, nullable=False, default=""),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("campaign_id", "subscriber_id"),
    sa.Index("ix_outbox_due", "campaign_id", "status", "id"),
)


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Claimed:
    """A batch of outbox rows leased to one sender."""

    items: list[OutboxItem]
    owner: str


class Store:
    """Methods named for what they do; each opens and commits its own transaction."""

    def __init__(self, url: str, engine: Engine | None = None):
        self.url = url
        self.engine = engine or _engine(url)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    def open(cls, url: str) -> Store:
        store = cls(url)
        store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- schema ----------------------------------------------------------------------------
    def migrate(self) -> None:
        """Create the schema on first use; record when the mailing list started."""
        try:
            metadata.create_all(self.engine)
            for index in outbox.indexes:  # create_all adds no index to a table that exists
                index.create(self.engine, checkfirst=True)
        except sa.exc.OperationalError as exc:
            raise ConfigError(f"database {self.safe_url}: {exc.orig}") from None
        with self.tx() as conn:
            rows = dict(conn.execute(sa.select(meta_table.c.key, meta_table.c.value)).all())
            if "schema_version" not in rows:
                conn.execute(
                    meta_table.insert(),
                    [
                        {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                        {"key": "list_created_at", "value": now().isoformat()},
                    ],
                )
            elif int(rows["schema_version"]) > SCHEMA_VERSION:
                raise ConfigError(
                    f"database {self.safe_url} was written by a newer publisher (schema {rows['schema_version']})"
                )

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def list_created_at(self) -> datetime:
        with self.tx() as conn:
            value = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "list_created_at")).scalar()
        return datetime.fromisoformat(value)

    # -- subscribers -------------------------------------------------------------------------
    def add_subscribers(self, rows: Sequence[dict[str, Any]], *, resubscribe: bool) -> tuple[int, int, int]:
        """Insert or merge subscribers (email already normalized); returns (added, updated, kept).

        An unsubscribed, bounced or complained address is never re-subscribed unless
        `resubscribe` (an explicit operator action), and a confirmed one never drops back
        to pending.
        """
        added = updated = kept = 0
        stamp = now()
        with self.tx() as conn:
            emails = [r["email"] for r in rows]
            existing = {}
            for chunk in _chunks(emails, 500):
                q = sa.select(
                    subscribers.c.email,
                    subscribers.c.id,
                    subscribers.c.status,
                    subscribers.c.name,
                    subscribers.c.topics,
                ).where(subscribers.c.email.in_(chunk))
                existing.update({r.email: r for r in conn.execute(q)})
            new = []
            for row in rows:
                old = existing.get(row["email"])
                if old is None:
                    new.append(_subscriber_values(row, stamp))
                    added += 1
                    continue
                changes: dict[str, Any] = {}
                if row.get("name") and row["name"] != old.name:
                    changes["name"] = row["name"]
                if row.get("topics") is not None and "\n".join(row["topics"]) != old.topics:
                    changes["topics"] = "\n".join(row["topics"])
                blocked = old.status in ("unsubscribed", "bounced", "complained")
                if row["status"] == "confirmed" and old.status != "confirmed" and (not blocked or resubscribe):
                    changes.update(status="confirmed", confirmed_at=stamp, bounces=0, unsubscribed_at=None)
                if changes:
                    changes["updated_at"] = stamp
                    conn.execute(subscribers.update().where(subscribers.c.id == old.id).values(**changes))
                    updated += 1
                else:
                    kept += 1
            if new:
                conn.execute(subscribers.insert(), new)
        return added, updated, kept

    def set_status(self, email: str, status: str) -> bool:
        stamp = now()
        values: dict[str, Any] = {"status": status, "updated_at": stamp}
        if status == "unsubscribed":
            values["unsubscribed_at"] = stamp
        if status == "confirmed":
            values["confirmed_at"] = stamp
        with self.tx() as conn:
            result = conn.execute(subscribers.update().where(subscribers.c.email == email).values(**values))
            if status in ("unsubscribed", "bounced", "complained"):
                self._skip_pending(conn, subscribers.c.email == email)
        return result.rowcount > 0

    def set_pending(self, subscriber_id: int, name: str, topics: Sequence[str]) -> None:
        """A departed subscriber asks to come back: pending until they confirm again."""
        with self.tx() as conn:
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id == subscriber_id, subscribers.c.status != "confirmed")
                .values(status="pending", name=name, topics="\n".join(topics), updated_at=now())
            )

    def unsubscribe_id(self, subscriber_id: int) -> bool:
        """Idempotent: true when the subscriber exists (whatever its status was)."""
        stamp = now()
        with self.tx() as conn:
            row = conn.execute(sa.select(subscribers.c.status).where(subscribers.c.id == subscriber_id)).first()
            if row is None:
                return False
            if row.status != "unsubscribed":
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == subscriber_id)
                    .values(status="unsubscribed", unsubscribed_at=stamp, updated_at=stamp)
                )
            self._skip_pending(conn, subscribers.c.id == subscriber_id)
        return True

    def _skip_pending(self, conn: Connection, who: Any) -> None:
        """Nothing still queued goes to someone who left: the unsubscribe takes effect at once."""
        ids = sa.select(subscribers.c.id).where(who)
        conn.execute(
            outbox.update()
            .where(outbox.c.subscriber_id.in_(ids), outbox.c.status.in_(("queued", "deferred")))
            .values(status="skipped", last_reply="unsubscribed")
        )

    def subscriber(self, email: str) -> Subscriber | None:
        with self.tx() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.email == email)).first()
        return _subscriber(row) if row else None

    def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        with self.tx() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        return _subscriber(row) if row else None

    def iter_subscribers(self, status: str | None = None) -> Iterator[Subscriber]:
        q = sa.select(subscribers).order_by(subscribers.c.id)
        if status:
            q = q.where(subscribers.c.status == status)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(q):
                yield _subscriber(row)

    def count_subscribers(self) -> dict[str, int]:
        with self.tx() as conn:
            rows = conn.execute(sa.select(subscribers.c.status, sa.func.count()).group_by(subscribers.c.status))
            counts = dict.fromkeys(STATUSES, 0)
            counts.update({status: n for status, n in rows})
        return counts

    def delete_subscriber(self, email: str) -> bool:
        with self.tx() as conn:
            sub = sa.select(subscribers.c.id).where(subscribers.c.email == email)
            conn.execute(outbox.delete().where(outbox.c.subscriber_id.in_(sub)))
            conn.execute(confirmations.delete().where(confirmations.c.subscriber_id.in_(sub)))
            return conn.execute(subscribers.delete().where(subscribers.c.email == email)).rowcount > 0

    # -- confirmation emails ---------------------------------------------------------------
    def queue_confirmation(self, subscriber_id: int) -> None:
        """A confirmation email to send now (again from the first try, if one was waiting)."""
        values = {"subscriber_id": subscriber_id, "attempts": 0, "due_at": now()}
        with self.tx() as conn:
            insert = _dialect_insert(conn)(confirmations).values(**values)
            conn.execute(insert.on_conflict_do_update(index_elements=["subscriber_id"], set_=values))

    def claim_confirmation(self, lease: timedelta) -> Lease | None:
        """The confirmation due first, leased to this caller until it is done or retried: one
        sender has it, and it comes due again when the lease ends (a sender that died). One at
        a time, claimed just before it is sent, so a slow relay never outlasts a lease."""
        while True:
            with self.tx() as conn:
                row = conn.execute(
                    sa.select(confirmations.c.subscriber_id, confirmations.c.attempts, confirmations.c.due_at)
                    .where(confirmations.c.due_at <= now())
                    .order_by(confirmations.c.due_at)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                until = now() + lease
                won = conn.execute(
                    confirmations.update()
                    .where(confirmations.c.subscriber_id == row.subscriber_id, confirmations.c.due_at == row.due_at)
                    .values(due_at=until)
                ).rowcount
            if won:
                return Lease(row.subscriber_id, row.attempts, until)

    def confirmation_done(self, lease: Lease) -> None:
        """Sent, refused for good, or given up; unless the lease was lost (the form submitted
        again, or another sender took it over), which leaves the row to its new holder."""
        with self.tx() as conn:
            conn.execute(confirmations.delete().where(*_held(lease)))

    def retry_confirmation(self, lease: Lease, due_at: datetime) -> None:
        with self.tx() as conn:
            conn.execute(confirmations.update().where(*_held(lease)).values(attempts=lease.attempts + 1, due_at=due_at))

    def next_confirmation_due(self) -> datetime | None:
        with self.tx() as conn:
            return _aware(conn.execute(sa.select(sa.func.min(confirmations.c.due_at))).scalar())

    # -- campaigns ---------------------------------------------------------------------------
    def baseline(self, published_before: Iterable[tuple[str, float]]) -> set[str]:
        """The archive at the list's start, recorded once: posts published (timestamp) before
        the list existed. Later calls return what was recorded, whatever is passed."""
        created = self.list_created_at().timestamp()
        with self.tx() as conn:
            recorded = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "baseline_recorded"))
            if recorded.first() is None:
                keys = sorted({key for key, published in published_before if published <= created})
                for chunk in _chunks(keys, 500):
                    conn.execute(baseline_posts.insert(), [{"post_key": k} for k in chunk])
                conn.execute(meta_table.insert().values(key="baseline_recorded", value=now().isoformat()))
            return set(conn.execute(sa.select(baseline_posts.c.post_key)).scalars())

    def mailed_posts(self) -> set[str]:
        """Keys (URLs) of every post that has a campaign: sent, being sent, or counted as sent."""
        with self.tx() as conn:
            return set(conn.execute(sa.select(campaign_posts.c.post_key)).scalars())

    def post_identities(self) -> dict[str, str]:
        """identity -> the URL the post had when it was mailed or archived."""
        with self.tx() as conn:
            return dict(conn.execute(sa.select(post_identities.c.identity, post_identities.c.post_key)).all())

    def remember_identities(self, identities: dict[str, str]) -> None:
        """Record identity -> URL for posts already mailed or archived (those mailed before
        identities were kept); an identity already recorded keeps its URL."""
        with self.tx() as conn:
            self._remember(conn, identities)

    def _remember(self, conn: Connection, identities: dict[str, str]) -> None:
        rows = [{"identity": i, "post_key": k} for i, k in identities.items()]
        for chunk in _chunks(rows, 500):
            _insert_new(conn, post_identities, list(chunk))

    def carry_over(self, renamed: dict[str, str]) -> None:
        """new URL -> old URL of posts that moved: each new URL counts as mailed by the old
        one's campaign (or as archive), so it is never mailed again."""
        with self.tx() as conn:
            for new, old in renamed.items():
                cid = conn.execute(
                    sa.select(campaign_posts.c.campaign_id).where(campaign_posts.c.post_key == old)
                ).scalar()
                if cid is not None:
                    _insert_new(conn, campaign_posts, [{"campaign_id": cid, "post_key": new}])
                    continue
                archived = sa.select(baseline_posts.c.post_key).where(baseline_posts.c.post_key == old)
                if conn.execute(archived).first() is not None:
                    _insert_new(conn, baseline_posts, [{"post_key": new}])

    def create_campaign(
        self, campaign: Campaign, post_keys: Sequence[str], identities: dict[str, str] | None = None
    ) -> Campaign | None:
        """Create a campaign, its posts (and their identities) and its outbox rows in one
        transaction; None when one of the posts already has a campaign (whoever created it).

        Recipients: every confirmed subscriber, or only those whose topics meet the
        campaign's terms (a subscriber without topics gets everything).
        """
        stamp = now()
        try:
            with self.tx() as conn:
                created = self._create_campaign(conn, campaign, post_keys, stamp)
                if created is not None and identities:
                    self._remember(conn, identities)
                return created
        except sa.exc.IntegrityError:
            return None

    def _create_campaign(
        self, conn: Connection, campaign: Campaign, post_keys: Sequence[str], stamp: datetime
    ) -> Campaign | None:
        if post_keys:
            taken = conn.execute(sa.select(campaign_posts.c.post_key).where(campaign_posts.c.post_key.in_(post_keys)))
            if taken.first():
                return None
        cid = conn.execute(
            campaigns.insert().values(
                key=campaign.key,
                kind=campaign.kind,
                slugs="\n".join(campaign.slugs),
                terms="\n".join(campaign.terms),
                subject=campaign.subject,
                html=campaign.html,
                text=campaign.text,
                status="baseline" if campaign.kind == "baseline" else "queued",
                created_at=stamp,
            )
        ).inserted_primary_key[0]
        if post_keys:
            conn.execute(campaign_posts.insert(), [{"campaign_id": cid, "post_key": k} for k in post_keys])
        if campaign.kind != "baseline":
            self._enqueue(conn, cid, campaign.terms)
        row = conn.execute(sa.select(campaigns).where(campaigns.c.id == cid)).one()
        return _campaign(row)

    def count_recipients(self, terms: Iterable[str]) -> int:
        with self.tx() as conn:
            everything = conn.execute(
                sa.select(sa.func.count()).where(subscribers.c.status == "confirmed", subscribers.c.topics == "")
            ).scalar()
            return everything + sum(1 for _ in self._topic_recipients(conn, terms))

    def iter_recipients(self, terms: Iterable[str]) -> Iterator[tuple[int, str, str]]:
        """(id, email, name) of every subscriber a campaign with these terms goes to, streamed:
        the same rule `create_campaign` applies."""
        terms = list(terms)
        with self.engine.connect() as conn:
            chosen = set(self._topic_recipients(conn, terms))
            q = (
                sa.select(subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.topics)
                .where(subscribers.c.status == "confirmed")
                .order_by(subscribers.c.id)
            )
            for sid, email, name, topics in conn.execution_options(yield_per=1000).execute(q):
                if not topics or sid in chosen:
                    yield sid, email, name

    def _topic_recipients(self, conn: Connection, terms: Iterable[str]) -> Iterator[int]:
        """Confirmed subscribers with topics who want one of these terms (case-insensitive)."""
        wanted = {t.casefold() for t in terms}
        q = sa.select(subscribers.c.id, subscribers.c.topics).where(
            subscribers.c.status == "confirmed", subscribers.c.topics != ""
        )
        for sid, topics in conn.execute(q).all():
            if {t.casefold() for t in topics.split("\n") if t} & wanted:
                yield sid

    def _enqueue(self, conn: Connection, cid: int, terms: Sequence[str]) -> None:
        """One queued outbox row per recipient. Subscribers without topics (nearly all) are
        copied by the database itself, so a million of them cost no memory here."""
        everyone = sa.select(
            sa.literal(cid), subscribers.c.id, sa.literal("queued"), sa.literal(0), sa.literal("")
        ).where(subscribers.c.status == "confirmed", subscribers.c.topics == "")
        conn.execute(
            outbox.insert().from_select(["campaign_id", "subscriber_id", "status", "attempts", "last_reply"], everyone)
        )
        rows = [
            {"campaign_id": cid, "subscriber_id": sid, "status": "queued", "attempts": 0, "last_reply": ""}
            for sid in self._topic_recipients(conn, terms)
        ]
        for chunk in _chunks(rows, 5000):
            conn.execute(outbox.insert(), list(chunk))

    def campaign(self, cid: int) -> Campaign:
        with self.tx() as conn:
            row = conn.execute(sa.select(campaigns).where(campaigns.c.id == cid)).one()
        return _campaign(row)

    def campaigns_to_send(self) -> list[Campaign]:
        with self.tx() as conn:
            rows = conn.execute(
                sa.select(campaigns).where(campaigns.c.status.in_(("queued", "sending"))).order_by(campaigns.c.id)
            )
            return [_campaign(r) for r in rows]

    def all_campaigns(self) -> list[Campaign]:
        with self.tx() as conn:
            return [_campaign(r) for r in conn.execute(sa.select(campaigns).order_by(campaigns.c.id))]

    def progress(self, cid: int) -> dict[str, int]:
        with self.tx() as conn:
            rows = conn.execute(
                sa.select(outbox.c.status, sa.func.count()).where(outbox.c.campaign_id == cid).group_by(outbox.c.status)
            )
            counts = dict.fromkeys(("queued", "sending", "sent", "deferred", "failed", "skipped"), 0)
            counts.update({status: n for status, n in rows})
        return counts

    def finish_if_done(self, cid: int) -> bool:
        with self.tx() as conn:
            left = conn.execute(
                sa.select(sa.func.count()).where(
                    outbox.c.campaign_id == cid, outbox.c.status.in_(("queued", "sending", "deferred"))
                )
            ).scalar()
            if left:
                return False
            conn.execute(
                campaigns.update()
                .where(campaigns.c.id == cid, campaigns.c.status != "done")
                .values(status="done", finished_at=now())
            )
        return True

    # -- the outbox --------------------------------------------------------------------------
    def claim(self, cid: int, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Lease up to `limit` deliverable rows to this process.

        Deliverable: queued, deferred whose retry time has come, or sending whose lease
        expired or whose owner process on this host is gone (a crash). On PostgreSQL the
        rows are picked FOR UPDATE SKIP LOCKED, so concurrent senders never share a row.
        """
        while True:
            t = now()
            with self.tx() as conn:
                reclaim = [o for o in self._owners(conn, cid) if _dead_here(o)]
                due = sa.or_(  # abandoned leases first, then retries that came due, then the queue
                    sa.and_(
                        outbox.c.status == "sending",
                        sa.or_(outbox.c.lease_until < t, outbox.c.lease_owner.in_(reclaim)),
                    ),
                    sa.and_(outbox.c.status == "deferred", outbox.c.next_attempt_at <= t),
                    outbox.c.status == "queued",
                )
                # Three ordered range scans on (campaign_id, status, id), not one OR that reads
                # and sorts the whole campaign on every claim (O(N^2) over a large campaign).
                ids: list[int] = []
                for kind in due.clauses:
                    if len(ids) >= limit:
                        break
                    pick = (
                        sa.select(outbox.c.id)
                        .where(outbox.c.campaign_id == cid, kind)
                        .order_by(outbox.c.id)
                        .limit(limit - len(ids))
                        .with_for_update(skip_locked=True)
                    )
                    ids += conn.execute(pick).scalars()
                if not ids:
                    return []
                # SQLite has no FOR UPDATE (and pysqlite runs the SELECT outside the write
                # transaction): another sender may have leased these rows since. The UPDATE
                # re-checks `due` under the write lock; only the rows it changed are ours.
                leased = list(
                    conn.execute(
                        outbox.update()
                        .where(outbox.c.id.in_(ids), due)
                        .values(
                            status="sending",
                            lease_owner=self.owner,
                            lease_until=t + lease,
                            attempts=outbox.c.attempts + 1,
                        )
                        .returning(outbox.c.id)
                    ).scalars()
                )
                if not leased:
                    continue  # all taken by another sender meanwhile: pick again
                rows = conn.execute(
                    sa.select(
                        outbox.c.id,
                        outbox.c.subscriber_id,
                        outbox.c.attempts,
                        subscribers.c.email,
                        subscribers.c.name,
                        subscribers.c.status,
                    )
                    .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
                    .where(outbox.c.id.in_(leased))
                    .order_by(outbox.c.id)
                )
                return [OutboxItem(r.id, cid, r.subscriber_id, r.email, r.name, r.attempts, r.status) for r in rows]

    def _owners(self, conn: Connection, cid: int) -> list[str]:
        q = sa.select(outbox.c.lease_owner).where(outbox.c.campaign_id == cid, outbox.c.status == "sending").distinct()
        return [o for o in conn.execute(q).scalars() if o and o != self.owner]

    def record(self, results: Iterable[Delivery]) -> None:
        """Write a batch of SMTP outcomes in one transaction (only rows this process leased)."""
        results = list(results)
        if not results:
            return
        t = now()
        rows = [
            {
                "oid": r.outbox_id,
                "new_status": r.status,
                "reply": r.reply[:500],
                "sent": (r.at or t) if r.status == "sent" else None,
                "retry": r.retry_at,
            }
            for r in results
        ]
        bounced = [{"sid": r.subscriber_id} for r in results if r.status == "failed" and r.permanent]
        update = (
            outbox.update()
            .where(outbox.c.id == sa.bindparam("oid"), outbox.c.status == "sending", outbox.c.lease_owner == self.owner)
            .values(
                status=sa.bindparam("new_status"),
                last_reply=sa.bindparam("reply"),
                lease_owner=None,
                lease_until=None,
                sent_at=sa.bindparam("sent"),
                next_attempt_at=sa.bindparam("retry"),
            )
        )
        with self.tx() as conn:
            conn.execute(update, rows)
            if bounced:
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == sa.bindparam("sid"))
                    .values(bounces=subscribers.c.bounces + 1, updated_at=t),
                    bounced,
                )

    def mark_bounced(self, limit: int) -> int:
        """Subscribers with `limit` or more permanent failures become bounced."""
        with self.tx() as conn:
            ids = list(
                conn.execute(
                    sa.select(subscribers.c.id).where(
                        subscribers.c.bounces >= limit, subscribers.c.status == "confirmed"
                    )
                ).scalars()
            )
            if ids:
                conn.execute(
                    subscribers.update().where(subscribers.c.id.in_(ids)).values(status="bounced", updated_at=now())
                )
                self._skip_pending(conn, subscribers.c.id.in_(ids))
        return len(ids)

    def release(self) -> None:
        """Give back rows leased to this process that were never sent (clean shutdown)."""
        with self.tx() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.status == "sending", outbox.c.lease_owner == self.owner)
                .values(status="queued", lease_owner=None, lease_until=None, attempts=outbox.c.attempts - 1)
            )

    def next_retry(self, cid: int) -> datetime | None:
        with self.tx() as conn:
            value = conn.execute(
                sa.select(sa.func.min(outbox.c.next_attempt_at)).where(
                    outbox.c.campaign_id == cid, outbox.c.status == "deferred"
                )
            ).scalar()
        return _aware(value)


@dataclass(frozen=True)
class Delivery:
    """What happened to one message: sent, deferred (retry at), or failed (permanently or out of tries)."""

    outbox_id: int
    subscriber_id: int
    status: str
    reply: str
    retry_at: datetime | None = None
    permanent: bool = False
    at: datetime | None = None


def _engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"database.url {url!r} is not a database URL (e.g. sqlite:///path or postgresql://...)"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the sender
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"database.url needs the {exc.name} driver: pip install {exc.name}") from None


def _dead_here(owner: str) -> bool:
    """A lease held by a process of this host that no longer exists can be taken at once."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A killed process nobody has reaped yet (a zombie) still answers kill(0): it's dead too.
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _subscriber_values(row: dict[str, Any], stamp: datetime) -> dict[str, Any]:
    return {
        "email": row["email"],
        "name": row.get("name") or "",
        "status": row["status"],
        "topics": "\n".join(row.get("topics") or ()),
        "bounces": 0,
        "source": row.get("source", ""),
        "created_at": stamp,
        "updated_at": stamp,
        "confirmed_at": stamp if row["status"] == "confirmed" else None,
    }


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        status=row.status,
        topics=tuple(t for t in row.topics.split("\n") if t),
        bounces=row.bounces,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        confirmed_at=_aware(row.confirmed_at),
        unsubscribed_at=_aware(row.unsubscribed_at),
    )


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        key=row.key,
        kind=row.kind,
        slugs=tuple(s for s in row.slugs.split("\n") if s),
        terms=tuple(t for t in row.terms.split("\n") if t),
        subject=row.subject,
        html=row.html,
        text=row.text,
        status=row.status,
        created_at=_aware(row.created_at),
        finished_at=_aware(row.finished_at),
    )


@dataclass(frozen=True)
class Lease:
    """A confirmation email leased to one sender: its subscriber, tries so far, lease end."""

    subscriber_id: int
    attempts: int
    until: datetime


def _held(lease: Lease) -> tuple[Any, ...]:
    return (confirmations.c.subscriber_id == lease.subscriber_id, confirmations.c.due_at == lease.until)


def _dialect_insert(conn: Connection) -> Any:
    """INSERT with ON CONFLICT, in the dialect of this connection (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _insert_new(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert the rows that are not there yet (by unique key): two planners at once never
    fail on each other's rows."""
    if rows:
        conn.execute(_dialect_insert(conn)(table).on_conflict_do_nothing(), rows)


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
