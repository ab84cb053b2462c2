"""The database, on SQLite (a file) and PostgreSQL: subscribers, campaigns and the leased outbox.

PostgreSQL tests use PUBLISHER_TEST_POSTGRES_URL (default: the local server with trust auth) and
a schema of their own, dropped afterwards; they are skipped, saying why, when it is unreachable.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from publisher.errors import ConfigError
from publisher.models import Campaign
from publisher.store import Delivery, Store, meta_table, now, outbox, subscribers

PG_URL = os.environ.get("PUBLISHER_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
LEASE = timedelta(minutes=10)
POST = "https://blog.example.com/posts/hello/"


@pytest.fixture(scope="session")
def postgres() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL unreachable at {PG_URL} ({str(exc.orig).strip().splitlines()[0]})")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """A database nobody else uses: a SQLite file, or a fresh PostgreSQL schema (on the search_path)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'publisher.sqlite3'}"
        return
    admin = request.getfixturevalue("postgres")
    schema = f"test_{uuid.uuid4().hex}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def open_store(db_url) -> Iterator[Callable[..., Store]]:
    """open_store(owner=None, migrate=True): another Store (own engine) on the test database."""
    opened: list[Store] = []

    def make(owner: str | None = None, migrate: bool = True) -> Store:
        store = Store(db_url)
        if owner:
            store.owner = owner
        if migrate:
            store.migrate()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store) -> Store:
    return open_store()


def subscribe(store: Store, *emails: str, status: str = "confirmed", topics=None, resubscribe: bool = False):
    rows = [{"email": e, "name": "", "status": status, "topics": topics} for e in emails]
    return store.add_subscribers(rows, resubscribe=resubscribe)


def make_campaign(key: str = POST, terms: tuple[str, ...] = (), kind: str = "post") -> Campaign:
    return Campaign(key=key, kind=kind, slugs=("hello",), terms=terms, subject="Hello", html="<p>Hi</p>", text="Hi")


def queued_campaign(store: Store, n: int, key: str = POST) -> Campaign:
    subscribe(store, *(f"reader{i}@example.com" for i in range(n)))
    return store.create_campaign(make_campaign(key), [key])


def outbox_rows(store: Store, cid: int) -> dict[str, sa.Row]:
    """email -> outbox row of campaign `cid`."""
    q = sa.select(subscribers.c.email, outbox).join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
    with store.tx() as conn:
        return {r.email: r for r in conn.execute(q.where(outbox.c.campaign_id == cid))}


def dead_pid() -> int:
    """The PID of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- schema --------------------------------------------------------------------------------
def test_schema_is_created_on_first_use(open_store) -> None:
    store = open_store(migrate=False)
    assert sa.inspect(store.engine).get_table_names() == []
    store.migrate()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"meta", "subscribers", "campaigns", "campaign_posts", "outbox"} <= tables


def test_migrate_is_idempotent_and_records_when_the_list_started(open_store) -> None:
    before = now()
    store = open_store()
    after = now()
    started = store.list_created_at()
    assert before <= started <= after
    store.migrate()
    open_store().migrate()  # another process starting later
    assert store.list_created_at() == started
    with store.tx() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(meta_table)).scalar() == 2


def test_database_from_a_newer_publisher_is_refused(store, open_store) -> None:
    with store.tx() as conn:
        conn.execute(meta_table.update().where(meta_table.c.key == "schema_version").values(value="99"))
    with pytest.raises(ConfigError, match=r"written by a newer publisher \(schema 99\)"):
        open_store()


# -- subscribers ---------------------------------------------------------------------------
def test_add_subscribers_counts_added_updated_kept(store) -> None:
    assert subscribe(store, "a@example.com", "b@example.com") == (2, 0, 0)
    rows = [
        {"email": "a@example.com", "name": "", "status": "confirmed"},  # nothing new
        {"email": "b@example.com", "name": "Bea", "status": "confirmed"},  # a name
        {"email": "c@example.com", "name": "", "status": "confirmed"},
    ]
    assert store.add_subscribers(rows, resubscribe=False) == (1, 1, 1)
    assert store.subscriber("b@example.com").name == "Bea"
    assert store.count_subscribers()["confirmed"] == 3


def test_topics_are_replaced_only_when_given(store) -> None:
    subscribe(store, "a@example.com", topics=("python", "ai"))
    assert subscribe(store, "a@example.com") == (0, 0, 1)  # topics None: keep them
    assert store.subscriber("a@example.com").topics == ("python", "ai")
    assert subscribe(store, "a@example.com", topics=("rust",)) == (0, 1, 0)
    assert store.subscriber("a@example.com").topics == ("rust",)


def test_pending_becomes_confirmed(store) -> None:
    subscribe(store, "a@example.com", status="pending")
    assert store.subscriber("a@example.com").confirmed_at is None
    assert subscribe(store, "a@example.com") == (0, 1, 0)
    sub = store.subscriber("a@example.com")
    assert sub.status == "confirmed" and sub.confirmed_at is not None


def test_pending_stays_pending_until_confirmed(store) -> None:
    subscribe(store, "a@example.com", status="pending")
    assert subscribe(store, "a@example.com", status="pending") == (0, 0, 1)
    assert store.subscriber("a@example.com").status == "pending"


def test_confirmed_never_drops_back_to_pending(store) -> None:
    subscribe(store, "a@example.com")
    assert subscribe(store, "a@example.com", status="pending") == (0, 0, 1)
    assert store.subscriber("a@example.com").status == "confirmed"


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_address_that_left_is_not_reconfirmed_without_resubscribe(store, status: str) -> None:
    subscribe(store, "a@example.com")
    store.set_status("a@example.com", status)
    assert subscribe(store, "a@example.com") == (0, 0, 1)
    assert store.subscriber("a@example.com").status == status


def test_resubscribe_reconfirms_and_clears_bounces(store) -> None:
    c = queued_campaign(store, 1)
    (item,) = store.claim(c.id, 10, LEASE)
    store.record([Delivery(item.id, item.subscriber_id, "failed", "550 no such user", permanent=True)])
    assert store.mark_bounced(1) == 1
    assert store.subscriber("reader0@example.com").status == "bounced"
    assert subscribe(store, "reader0@example.com", resubscribe=True) == (0, 1, 0)
    sub = store.subscriber("reader0@example.com")
    assert (sub.status, sub.bounces) == ("confirmed", 0)


# -- campaigns -----------------------------------------------------------------------------
def test_campaign_queues_one_row_per_confirmed_subscriber(store) -> None:
    subscribe(store, "a@example.com", "b@example.com", "c@example.com")
    subscribe(store, "pending@example.com", status="pending")
    subscribe(store, "left@example.com")
    store.set_status("left@example.com", "unsubscribed")
    c = store.create_campaign(make_campaign(), [POST])
    assert c.status == "queued"
    assert set(outbox_rows(store, c.id)) == {"a@example.com", "b@example.com", "c@example.com"}
    assert store.progress(c.id)["queued"] == 3


def test_subscriber_topics_filter_campaigns_case_insensitively(store) -> None:
    subscribe(store, "everything@example.com")
    subscribe(store, "python@example.com", topics=("Python",))
    subscribe(store, "rust@example.com", topics=("rust",))
    subscribe(store, "several@example.com", topics=("cooking", "ai"))
    c = store.create_campaign(make_campaign(terms=("python", "AI")), [POST])
    expected = {"everything@example.com", "python@example.com", "several@example.com"}
    assert set(outbox_rows(store, c.id)) == expected
    assert store.count_recipients(("python", "AI")) == 3


def test_post_already_in_a_campaign_is_never_mailed_twice(store) -> None:
    subscribe(store, "a@example.com")
    other = "https://blog.example.com/posts/other/"
    first = store.create_campaign(make_campaign(), [POST])
    digest = make_campaign(key=f"digest:{other}\n{POST}", kind="digest")
    assert store.create_campaign(digest, [other, POST]) is None
    assert [c.id for c in store.all_campaigns()] == [first.id]
    assert store.mailed_posts() == {POST}  # nothing of the refused campaign was kept
    assert store.progress(first.id)["queued"] == 1


def test_campaign_key_is_unique(store) -> None:
    store.create_campaign(make_campaign(), [POST])
    assert store.create_campaign(make_campaign(), []) is None
    assert len(store.all_campaigns()) == 1


def test_baseline_campaign_counts_the_post_as_sent_and_queues_nobody(store) -> None:
    subscribe(store, "a@example.com")
    c = store.create_campaign(make_campaign(kind="baseline"), [POST])
    assert c.status == "baseline"
    assert sum(store.progress(c.id).values()) == 0
    assert store.mailed_posts() == {POST}
    assert store.campaigns_to_send() == []


def test_a_moved_post_counts_as_what_it_was_mailed_or_archive(store) -> None:
    moved, archived, moved_archive = (f"https://blog.example.com/posts/{n}/" for n in ("moved", "old", "old-moved"))
    first = store.create_campaign(make_campaign(), [POST], {"id-hello": POST})
    store.remember_identities({"id-hello": "https://elsewhere.example/", "id-old": archived})  # first one kept
    assert store.post_identities() == {"id-hello": POST, "id-old": archived}
    store.baseline([(archived, 0.0)])
    store.carry_over({moved: POST, moved_archive: archived})
    store.carry_over({moved: POST})  # again: no error, nothing more
    assert store.mailed_posts() == {POST, moved}
    assert store.baseline([]) == {archived, moved_archive}
    assert [c.id for c in store.all_campaigns()] == [first.id]


def test_confirmation_queue_leases_each_to_one_sender_and_keeps_it_until_done(store, open_store) -> None:
    subscribe(store, "a@example.com", "b@example.com")
    a, b = (store.subscriber(e).id for e in ("a@example.com", "b@example.com"))
    store.queue_confirmation(a)
    store.queue_confirmation(b)
    store.queue_confirmation(b)  # the form submitted twice: still one
    other = open_store(owner="other:1")
    lease = timedelta(minutes=5)
    first, second = store.claim_confirmation(lease), other.claim_confirmation(lease)
    assert sorted((c.subscriber_id, c.attempts) for c in (first, second)) == [(a, 0), (b, 0)]  # one sender each
    assert store.claim_confirmation(lease) is None  # leased: nobody else's now
    assert store.next_confirmation_due() > datetime.now(UTC) + timedelta(minutes=4)
    held = first if first.subscriber_id == a else second
    store.retry_confirmation(held, datetime.now(UTC) - timedelta(seconds=1))
    again = other.claim_confirmation(lease)
    assert (again.subscriber_id, again.attempts) == (a, 1)  # due again, with its tries
    store.queue_confirmation(a)  # the visitor submitted the form again: from the first try
    store.confirmation_done(again)  # a lease lost meanwhile: the new request stays
    store.retry_confirmation(again, datetime.now(UTC) + timedelta(hours=1))  # likewise
    fresh = store.claim_confirmation(lease)
    assert (fresh.subscriber_id, fresh.attempts) == (a, 0)
    store.confirmation_done(fresh)
    assert store.delete_subscriber("b@example.com")
    assert store.next_confirmation_due() is None


def test_two_planners_recording_the_same_identities_and_moves_do_not_collide(store, open_store) -> None:
    # The daemon and an operator's `publisher send` plan at the same moment: both record what
    # the other records too. Inserts that find the row there leave it, without an error.
    store.create_campaign(make_campaign(), [POST], {"id-hello": POST})
    other = open_store(owner="other:1")
    moved = "https://blog.example.com/posts/moved/"
    barrier = threading.Barrier(2)

    def plan(s: Store) -> None:
        barrier.wait()
        s.remember_identities({"id-x": "https://blog.example.com/posts/x/", "id-hello": POST})
        s.carry_over({moved: POST})

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(plan, [store, other]))
    assert store.post_identities() == {"id-hello": POST, "id-x": "https://blog.example.com/posts/x/"}
    assert store.mailed_posts() == {POST, moved}


# -- the outbox ----------------------------------------------------------------------------
def test_claim_leases_rows(store) -> None:
    c = queued_campaign(store, 3)
    items = store.claim(c.id, 2, LEASE)
    assert [i.email for i in items] == ["reader0@example.com", "reader1@example.com"]
    assert all(i.attempts == 1 and i.subscriber_status == "confirmed" for i in items)
    rows = outbox_rows(store, c.id)
    assert rows["reader0@example.com"].status == "sending"
    assert rows["reader0@example.com"].lease_owner == store.owner
    assert rows["reader2@example.com"].status == "queued"
    # Leased rows are not handed out again, even to the same store.
    assert [i.email for i in store.claim(c.id, 10, LEASE)] == ["reader2@example.com"]
    assert store.claim(c.id, 10, LEASE) == []


def test_concurrent_claimers_never_share_a_row(store, open_store) -> None:
    c = queued_campaign(store, 400)
    senders = [open_store(owner="sender-a:1"), open_store(owner="sender-b:2")]
    barrier = threading.Barrier(len(senders))

    def drain(sender: Store) -> list[int]:
        barrier.wait()
        claimed = []
        while items := sender.claim(c.id, 7, LEASE):
            claimed += [i.id for i in items]
        return claimed

    with ThreadPoolExecutor(len(senders)) as pool:
        a, b = pool.map(drain, senders)
    assert len(a) == len(set(a)) and len(b) == len(set(b))
    assert not set(a) & set(b)
    assert len(a) + len(b) == 400
    assert store.progress(c.id)["sending"] == 400


def test_expired_lease_is_claimable_again(store, open_store) -> None:
    c = queued_campaign(store, 2)
    crashed = open_store(owner="elsewhere.invalid:1")
    assert len(crashed.claim(c.id, 10, timedelta(milliseconds=50))) == 2
    assert store.claim(c.id, 10, LEASE) == []  # the lease still holds
    time.sleep(0.2)
    items = store.claim(c.id, 10, LEASE)
    assert [i.attempts for i in items] == [2, 2]
    assert {r.lease_owner for r in outbox_rows(store, c.id).values()} == {store.owner}


def test_lease_of_a_dead_process_on_this_host_is_reclaimed_at_once(store, open_store) -> None:
    c = queued_campaign(store, 2)
    crashed = open_store(owner=f"{socket.gethostname()}:{dead_pid()}")
    assert len(crashed.claim(c.id, 10, LEASE)) == 2
    assert len(store.claim(c.id, 10, LEASE)) == 2


def test_lease_of_a_live_process_or_another_host_is_respected(store, open_store) -> None:
    c = queued_campaign(store, 2)
    live = open_store(owner=f"{socket.gethostname()}:{os.getppid()}")
    elsewhere = open_store(owner=f"elsewhere.invalid:{dead_pid()}")
    assert len(live.claim(c.id, 1, LEASE)) == 1
    assert len(elsewhere.claim(c.id, 1, LEASE)) == 1
    assert store.claim(c.id, 10, LEASE) == []


def test_record_marks_only_rows_leased_by_this_store(store, open_store) -> None:
    c = queued_campaign(store, 1)
    (item,) = store.claim(c.id, 10, LEASE)
    intruder = open_store(owner="elsewhere.invalid:1")
    intruder.record([Delivery(item.id, item.subscriber_id, "sent", "250 OK")])
    assert outbox_rows(store, c.id)["reader0@example.com"].status == "sending"
    store.record([Delivery(item.id, item.subscriber_id, "sent", "250 OK queued")])
    row = outbox_rows(store, c.id)["reader0@example.com"]
    assert (row.status, row.last_reply, row.lease_owner) == ("sent", "250 OK queued", None)
    assert row.sent_at is not None


def test_record_ignores_rows_not_leased(store) -> None:
    c = queued_campaign(store, 1)
    row = outbox_rows(store, c.id)["reader0@example.com"]
    store.record([Delivery(row.id, row.subscriber_id, "sent", "250 OK")])
    assert outbox_rows(store, c.id)["reader0@example.com"].status == "queued"


def test_deferred_row_waits_for_its_retry_time(store) -> None:
    c = queued_campaign(store, 2)
    first, second = store.claim(c.id, 10, LEASE)
    later, past = now() + timedelta(hours=1), now() - timedelta(seconds=1)
    store.record(
        [
            Delivery(first.id, first.subscriber_id, "deferred", "451 greylisted", retry_at=later),
            Delivery(second.id, second.subscriber_id, "deferred", "451 greylisted", retry_at=past),
        ]
    )
    assert store.progress(c.id)["deferred"] == 2
    assert store.next_retry(c.id) == past
    (again,) = store.claim(c.id, 10, LEASE)
    assert (again.id, again.attempts) == (second.id, 2)


def test_permanent_failure_counts_a_bounce(store) -> None:
    c = queued_campaign(store, 2)
    first, second = store.claim(c.id, 10, LEASE)
    store.record(
        [
            Delivery(first.id, first.subscriber_id, "failed", "550 5.1.1 no such user", permanent=True),
            Delivery(second.id, second.subscriber_id, "failed", "451 out of tries"),
        ]
    )
    assert store.progress(c.id)["failed"] == 2
    assert store.subscriber(first.email).bounces == 1
    assert store.subscriber(second.email).bounces == 0


def test_release_requeues_unsent_rows_with_attempts_restored(store, open_store) -> None:
    c = queued_campaign(store, 4)
    other = open_store(owner="elsewhere.invalid:1")
    (theirs,) = other.claim(c.id, 1, LEASE)
    sent, unsent, unsent2 = store.claim(c.id, 10, LEASE)
    store.record([Delivery(sent.id, sent.subscriber_id, "sent", "250 OK")])
    store.release()
    rows = {r.id: r for r in outbox_rows(store, c.id).values()}
    assert (rows[sent.id].status, rows[sent.id].attempts) == ("sent", 1)
    for item in (unsent, unsent2):
        assert (rows[item.id].status, rows[item.id].attempts, rows[item.id].lease_owner) == ("queued", 0, None)
    assert (rows[theirs.id].status, rows[theirs.id].lease_owner) == ("sending", "elsewhere.invalid:1")


def test_unsubscribe_skips_queued_rows(store) -> None:
    c = queued_campaign(store, 3)
    (deferred,) = store.claim(c.id, 1, LEASE)  # reader0
    store.record([Delivery(deferred.id, deferred.subscriber_id, "deferred", "451", retry_at=now())])
    assert store.set_status("reader0@example.com", "unsubscribed")
    assert store.set_status("reader1@example.com", "unsubscribed")
    rows = outbox_rows(store, c.id)
    for email in ("reader0@example.com", "reader1@example.com"):
        assert (rows[email].status, rows[email].last_reply) == ("skipped", "unsubscribed")
    assert [i.email for i in store.claim(c.id, 10, LEASE)] == ["reader2@example.com"]
    assert store.subscriber("reader1@example.com").unsubscribed_at is not None


def test_set_status_of_an_unknown_address_is_false(store) -> None:
    assert store.set_status("nobody@example.com", "unsubscribed") is False


def test_mark_bounced_after_limit_permanent_failures(store) -> None:
    first = queued_campaign(store, 2)
    for item in store.claim(first.id, 10, LEASE):
        permanent = item.email == "reader0@example.com"
        store.record([Delivery(item.id, item.subscriber_id, "failed", "550", permanent=permanent)])
    assert store.mark_bounced(2) == 0  # one bounce is below the limit
    two, three = "https://blog.example.com/posts/two/", "https://blog.example.com/posts/three/"
    second = store.create_campaign(make_campaign(key=two), [two])
    (item,) = [i for i in store.claim(second.id, 10, LEASE) if i.email == "reader0@example.com"]
    store.record([Delivery(item.id, item.subscriber_id, "failed", "550", permanent=True)])
    third = store.create_campaign(make_campaign(key=three), [three])
    assert store.mark_bounced(2) == 1
    assert store.subscriber("reader0@example.com").status == "bounced"
    assert store.subscriber("reader1@example.com").status == "confirmed"
    assert outbox_rows(store, third.id)["reader0@example.com"].status == "skipped"
    assert store.mark_bounced(2) == 0  # already bounced


def test_finish_if_done_only_when_nothing_is_left(store) -> None:
    c = queued_campaign(store, 2)
    assert store.finish_if_done(c.id) is False  # queued
    first, second = store.claim(c.id, 10, LEASE)
    assert store.finish_if_done(c.id) is False  # sending
    store.record(
        [
            Delivery(first.id, first.subscriber_id, "sent", "250 OK"),
            Delivery(second.id, second.subscriber_id, "deferred", "451", retry_at=now() - timedelta(seconds=1)),
        ]
    )
    assert store.finish_if_done(c.id) is False  # deferred
    assert store.campaign(c.id).status == "queued"
    (again,) = store.claim(c.id, 10, LEASE)
    store.record([Delivery(again.id, again.subscriber_id, "failed", "451 out of tries")])
    assert store.finish_if_done(c.id) is True
    done = store.campaign(c.id)
    assert done.status == "done" and done.finished_at is not None
    assert store.campaigns_to_send() == []
