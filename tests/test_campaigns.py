"""Sending a post to the list, end to end, against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections import Counter

import pytest

from publisher import campaigns, subscriptions
from publisher.outbox import SendError
from publisher.store import Store
from tests.conftest import SECRET, post_text

SAMPLES = ["posts/2026-01-05-groq-nvidia-prefill-decode.md", "posts/2026-01-06-all-in-year-end-review.md"]
GROQ = "Groq 攜手 NVIDIA：Chamath 親解「Pre-fill 與 Decode」的架構之爭"
REVIEW = "AI 硬體突圍與美國財政危機：All-In 年終關鍵回顧"


def subscribe(store: Store, *emails: str, status: str = "confirmed", topics: tuple[str, ...] = ()) -> None:
    rows = [
        {"email": subscriptions.normalize_email(e), "name": "", "status": status, "topics": topics or None}
        for e in emails
    ]
    store.add_subscribers(rows, resubscribe=True)


def send(config, store, **kw):
    plan = campaigns.plan_send(config, store, backfill=kw.pop("backfill", True), digest=kw.pop("digest", False))
    campaigns.create_campaigns(config, store, plan)
    kw.setdefault("retry_wait", 10.0)
    kw.setdefault("retry_delay", 0.05)
    return campaigns.send_queued(config, store, **kw)


@pytest.fixture
def site(newsletter_site):
    config = newsletter_site(data=SAMPLES)
    store = campaigns.open_store(config)
    yield config, store
    store.close()


def test_each_confirmed_subscriber_gets_each_post_once(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "a@example.com", "b@example.com", "C@Example.com")
    subscribe(store, "pending@example.com", status="pending")
    subscribe(store, "gone@example.com", "bounced@example.com")
    store.set_status("gone@example.com", "unsubscribed")
    store.set_status("bounced@example.com", "bounced")
    summary = send(config, store)
    assert summary.sent == 6 and summary.failed == 0
    got = Counter((msg["To"].addresses[0].addr_spec, msg["Subject"]) for msg in server.parsed())
    expected = {(who, title) for who in ("a@example.com", "b@example.com", "c@example.com") for title in (GROQ, REVIEW)}
    assert set(got) == expected
    assert set(got.values()) == {1}
    # A second send finds nothing new to mail.
    assert send(config, store).sent == 0
    assert len(server.messages) == 6


def test_message_headers_and_parts(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "reader@example.com")
    sub = store.subscriber("reader@example.com")
    send(config, store)
    msg = next(m for m in server.parsed() if m["Subject"] == GROQ)
    assert msg["From"].addresses[0].display_name == "Test Blog 測試"
    assert msg["From"].addresses[0].addr_spec == "news@blog.example.com"
    assert msg["To"].addresses[0].addr_spec == "reader@example.com"
    assert msg["Date"].datetime is not None
    assert msg["Message-ID"].endswith("@blog.example.com>")
    assert msg["List-Id"].endswith("<newsletter.blog.example.com>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (part.strip(" <>") for part in msg["List-Unsubscribe"].split(","))
    assert mailto == "mailto:unsubscribe@blog.example.com?subject=unsubscribe"
    assert https.startswith("https://blog.example.com/unsubscribe/")
    token = https.rsplit("/", 1)[1]
    assert subscriptions.Tokens(SECRET).unsubscribe_id(token) == sub.id
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert GROQ in text and https in text and "取消訂閱" in text
    assert "LLM 的兩張面孔" in html and f'href="{https}"' in html
    assert 'href="https://blog.example.com/posts/2026-01-05-groq-nvidia-prefill-decode/"' in html
    assert "style=" in html and "<style>" not in html  # CSS inlined
    assert "2026年1月5日" in text  # the date in the site's language and zone


def test_each_copy_has_its_own_unsubscribe_link(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "one@example.com", "two@example.com")
    send(config, store)
    tokens = subscriptions.Tokens(SECRET)
    for msg in server.parsed():
        link = msg["List-Unsubscribe"].split(",")[0].strip(" <>")
        owner = store.subscriber_by_id(tokens.unsubscribe_id(link.rsplit("/", 1)[1]))
        assert owner.email == msg["To"].addresses[0].addr_spec
        assert link in msg.get_body(("html",)).get_content()


def test_topics_limit_what_a_subscriber_receives(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "llm@example.com", topics=("LLM",))  # only the Groq post has this tag
    subscribe(store, "economy@example.com", topics=("美國經濟", "nothing"))
    subscribe(store, "all@example.com")
    send(config, store)
    got = {(m["To"].addresses[0].addr_spec, m["Subject"]) for m in server.parsed()}
    assert got == {
        ("llm@example.com", GROQ),
        ("economy@example.com", REVIEW),
        ("all@example.com", GROQ),
        ("all@example.com", REVIEW),
    }


def test_digest_bundles_posts_into_one_email(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "d@example.com")
    send(config, store, digest=True)
    (msg,) = server.parsed()
    assert msg["Subject"] == f"Test Blog: {REVIEW} (+1)"
    html = msg.get_body(("html",)).get_content()
    assert html.index(REVIEW) < html.index(GROQ)  # the newest first, as the subject says
    assert msg.get_body(("plain",)).get_content().index(REVIEW) < msg.get_body(("plain",)).get_content().index(GROQ)
    assert send(config, store).sent == 0  # both posts count as mailed


def test_first_send_does_not_mail_the_archive(site, smtp_server) -> None:
    config, store = site
    subscribe(store, "new@example.com")
    plan = campaigns.plan_send(config, store)
    assert plan.posts == [] and plan.skipped_old == 2
    # A post that appears after the list started is new, even when it is dated in the past.
    (config.content_dir / "posts/new.md").write_text(post_text(title="Fresh", date="2025-06-01"), encoding="utf-8")
    plan = campaigns.plan_send(config, store)
    assert [p.title for p in plan.posts] == ["Fresh"] and plan.skipped_old == 2
    assert [p.title for p in campaigns.plan_send(config, store, backfill=True).posts] == ["Fresh", GROQ, REVIEW]


def rename(config, old: str, new: str, title: str | None = None) -> None:
    """Move a post file (a new URL: its slug is the file name), optionally retitling it."""
    source = config.content_dir / old
    text = source.read_text(encoding="utf-8")
    if title is not None:
        text = text.replace(text.split("\n")[1], f'title: "{title}"', 1)
    (config.content_dir / new).write_text(text, encoding="utf-8")
    source.unlink()


GROQ_FILE = "posts/2026-01-05-groq-nvidia-prefill-decode.md"
GROQ_URL = "https://blog.example.com/posts/2026-01-05-groq-nvidia-prefill-decode/"


def test_a_renamed_post_is_not_mailed_again(site, smtp_server) -> None:
    # The operator's "never the same post twice": renaming a mailed post's file gives it a new
    # URL (a new GUID for feed readers, as in Hugo), but the same title and publish date.
    config, store = site
    server, _ = smtp_server
    subscribe(store, "reader@example.com")
    assert send(config, store).sent == 2
    rename(config, GROQ_FILE, "posts/groq.md")
    (config.content_dir / "posts/new.md").write_text(post_text("新文章", date="2026-01-07"), encoding="utf-8")
    plan = campaigns.plan_send(config, store)
    assert [p.title for p in plan.posts] == ["新文章"]  # a new post is still new
    assert plan.renamed == [("https://blog.example.com/posts/groq/", GROQ_URL, True)]
    note = campaigns.renamed_note(*plan.renamed[0])
    assert note.startswith("https://blog.example.com/posts/groq/ has the title and publish date of " + GROQ_URL)
    campaigns.create_campaigns(config, store, plan)
    assert send(config, store).sent == 1
    assert Counter(m["Subject"] for m in server.parsed()) == {GROQ: 1, REVIEW: 1, "新文章": 1}
    # The move is recorded: the next plan has nothing to say about it, and naming it fails.
    again = campaigns.plan_send(config, store)
    assert again.posts == [] and again.renamed == []
    with pytest.raises(campaigns.NothingToSend, match="already mailed"):
        campaigns.plan_send(config, store, "groq")
    # Renamed and retitled: another post as far as anyone can tell, so it is mailed.
    rename(config, "posts/groq.md", "posts/groq-2.md", title="Groq 與 NVIDIA（更新版）")
    assert [p.title for p in campaigns.plan_send(config, store).posts] == ["Groq 與 NVIDIA（更新版）"]


def test_a_renamed_archive_post_stays_archive(site, smtp_server) -> None:
    config, store = site
    subscribe(store, "reader@example.com")
    assert campaigns.plan_send(config, store).skipped_old == 2  # the archive is recorded
    rename(config, GROQ_FILE, "posts/groq.md")
    dry = campaigns.plan_send(config, store, record=False)  # a dry run sees it and records nothing
    assert dry.renamed == [("https://blog.example.com/posts/groq/", GROQ_URL, False)]
    plan = campaigns.plan_send(config, store)
    assert plan.posts == [] and plan.skipped_old == 2 and plan.renamed == dry.renamed
    assert "published before the mailing list existed" in campaigns.renamed_note(*plan.renamed[0])
    # Never mailed, so it may be named, as any archive post.
    assert [p.slug for p in campaigns.plan_send(config, store, "groq").posts] == ["groq"]
    # Never mailed, so a backfill mails it, once, under its new URL.
    assert [p.url for p in campaigns.plan_send(config, store, backfill=True).posts] == [
        "https://blog.example.com/posts/groq/",
        "https://blog.example.com/posts/2026-01-06-all-in-year-end-review/",
    ]


def test_posts_mailed_before_identities_were_kept_are_recognized_too(site, smtp_server) -> None:
    # A database from an earlier version has campaigns but no identities: the next plan, with
    # the post still at its old URL, records them; a rename after that is caught.
    from publisher.store import post_identities

    config, store = site
    subscribe(store, "reader@example.com")
    assert send(config, store).sent == 2
    with store.tx() as conn:
        conn.execute(post_identities.delete())
    assert campaigns.plan_send(config, store).posts == []
    assert len(store.post_identities()) == 2
    rename(config, GROQ_FILE, "posts/groq.md")
    with pytest.raises(campaigns.NothingToSend, match=f"'groq' has the title and publish date of {GROQ_URL}"):
        campaigns.plan_send(config, store, "groq")  # named, too
    plan = campaigns.plan_send(config, store)
    assert plan.posts == [] and [new for new, _, _ in plan.renamed] == ["https://blog.example.com/posts/groq/"]
    # Copied, then the old file deleted, with no plan in between: on the first plan after the
    # upgrade both are there, and the copy is known by the identity recorded in that very plan.
    with store.tx() as conn:
        conn.execute(post_identities.delete())
    shutil.copyfile(config.content_dir / "posts/groq.md", config.content_dir / "posts/groq-copy.md")
    copied = campaigns.plan_send(config, store)
    assert copied.posts == [] and [new for new, _, _ in copied.renamed] == ["https://blog.example.com/posts/groq-copy/"]


def test_temporary_failures_are_retried(site, smtp_server, caplog) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "grey@example.com", "fine@example.com")
    server.temporary["grey@example.com"] = 3  # greylisted three times, then accepted
    moved = []
    summary = send(config, store, progress=lambda campaign, total: moved.append([total, 0]) or _mover(moved[-1]))
    assert Counter(server.recipients()) == {"grey@example.com": 2, "fine@example.com": 2}
    assert summary.failed == 0
    # Messages, not attempts: the retried ones count once, as sent, and move the bar once.
    assert (summary.sent, summary.deferred) == (4, 0)
    assert moved == [[2, 2], [2, 2]]
    assert "1 message(s) deferred by the relay; retrying in" in caplog.text  # the wait is no silent hang
    assert all(c.status == "done" for c in store.all_campaigns())


def _mover(bar: list[int]):
    def advance(n: int) -> None:
        bar[1] += n

    return advance


def test_a_progress_display_that_fails_never_costs_a_record(site, smtp_server) -> None:
    # stderr full or a broken pipe under `publisher send`: the bar can't be drawn, but every
    # message the relay accepted must still be recorded, or the next send mails it again.
    config, store = site
    server, _ = smtp_server
    subscribe(store, *[f"r{i}@example.com" for i in range(40)])
    calls = [0]

    def progress(campaign, total):
        def advance(n: int) -> None:
            calls[0] += 1
            if calls[0] > 10:
                raise OSError(28, "No space left on device")

        return advance

    send(config, store, progress=progress)
    sent = sum(store.progress(c.id)["sent"] for c in store.all_campaigns())
    assert sent == len(server.messages) == 80


def test_dropped_connections_are_retried(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    emails = [f"user{i}@example.com" for i in range(20)]
    subscribe(store, *emails)
    server.drop_every = 4
    send(config, store)
    assert Counter(server.recipients()) == dict.fromkeys(emails, 2)  # every copy exactly once


def test_permanent_failure_bounces_the_address_and_is_never_retried(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "nobody@example.com", "ok@example.com")
    server.permanent["nobody@example.com"] = "550 5.1.1 no such user"
    summary = send(config, store)
    assert summary.failed >= 1
    assert Counter(server.recipients()) == {"ok@example.com": 2}
    assert store.subscriber("nobody@example.com").status == "bounced"
    assert all(c.status == "done" for c in store.all_campaigns())
    del server.permanent["nobody@example.com"]
    send(config, store)
    assert "nobody@example.com" not in server.recipients()


def test_too_many_temporary_failures_give_up(newsletter_site, smtp_server) -> None:
    config = newsletter_site(data=SAMPLES[:1], newsletter={"max_attempts": 2})
    store = campaigns.open_store(config)
    server, _ = smtp_server
    subscribe(store, "never@example.com")
    server.temporary["never@example.com"] = 100
    summary = send(config, store)
    assert summary.failed == 1 and server.messages == []
    assert store.subscriber("never@example.com").status == "confirmed"  # not a bounce


def test_unreachable_server_keeps_everything_queued(newsletter_site, smtp_server) -> None:
    from tests.conftest import free_port

    config = newsletter_site(data=SAMPLES[:1], smtp={"port": free_port()})
    store = campaigns.open_store(config)
    subscribe(store, "wait@example.com")
    with pytest.raises(SendError, match="unreachable"):
        send(config, store, retry_wait=0)
    (campaign,) = store.campaigns_to_send()
    left = store.progress(campaign.id)
    assert left["sent"] == 0 and left["deferred"] + left["queued"] == 1


def test_a_post_sent_to_nobody_is_done_without_contacting_the_server(newsletter_site, smtp_server) -> None:
    from tests.conftest import free_port

    config = newsletter_site(data=SAMPLES[:1], smtp={"port": free_port()})  # nothing listens there
    store = campaigns.open_store(config)
    summary = send(config, store, retry_wait=0)
    assert summary.sent == 0
    assert store.campaigns_to_send() == []
    (campaign,) = store.all_campaigns()
    assert campaign.status == "done"
    store.close()


def test_stop_event_parks_the_rest(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, *[f"s{i}@example.com" for i in range(50)])
    server.delay = 0.01
    stop = threading.Event()
    timer = threading.Timer(0.15, stop.set)
    timer.start()
    first = send(config, store, stop=stop)
    timer.cancel()
    assert first.stopped and first.sent < 100
    rest = campaigns.send_queued(config, store, retry_wait=5, retry_delay=0.05)
    assert Counter(server.recipients()) == {f"s{i}@example.com": 2 for i in range(50)}
    assert first.sent + rest.sent == 100


def test_unsubscribing_mid_campaign_stops_delivery(site, smtp_server) -> None:
    config, store = site
    server, _ = smtp_server
    subscribe(store, "leaving@example.com", "staying@example.com")
    plan = campaigns.plan_send(config, store, backfill=True)
    campaigns.create_campaigns(config, store, plan)
    store.unsubscribe_id(store.subscriber("leaving@example.com").id)
    campaigns.send_queued(config, store, retry_wait=0)
    assert set(server.recipients()) == {"staying@example.com"}


def test_missing_secret_is_a_clear_error_before_sending(site, smtp_server, monkeypatch) -> None:
    from publisher.errors import ConfigError

    config, store = site
    server, _ = smtp_server
    subscribe(store, "x@example.com")
    monkeypatch.delenv("PUBLISHER_SECRET_KEY")
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY is not set"):
        send(config, store)
    assert server.messages == []


@pytest.mark.parametrize("pipelining", [True, False])
def test_same_deliveries_with_and_without_pipelining(site, smtp_server, pipelining: bool) -> None:
    config, store = site
    server, _ = smtp_server
    server.pipelining = pipelining
    subscribe(store, "ok@example.com", "grey@example.com", "gone@example.com")
    server.temporary["grey@example.com"] = 1
    server.permanent["gone@example.com"] = "550 5.1.1 no such user"
    summary = send(config, store)
    assert Counter(server.recipients()) == {"ok@example.com": 2, "grey@example.com": 2}
    # The first 550 bounces the address; the second campaign then skips it.
    assert summary.failed == 1 and store.subscriber("gone@example.com").status == "bounced"
    bodies = {m["Subject"]: m.get_body(("plain",)).get_content() for m in server.parsed()}
    assert GROQ in bodies and "取消訂閱" in bodies[GROQ]


def test_summary_mode_mails_the_description_and_a_read_more_link(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter_site(data=SAMPLES[:1], newsletter={"full_content": False})
    store = campaigns.open_store(config)
    subscribe(store, "brief@example.com")
    send(config, store)
    (msg,) = server.parsed()
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "為什麼 NVIDIA 願意與潛在競爭對手 Groq 合作？" in html  # the description
    assert "LLM 的兩張面孔" not in html and "LLM 的兩張面孔" not in text  # not the body
    url = "https://blog.example.com/posts/2026-01-05-groq-nvidia-prefill-decode/"
    assert "閱讀全文" in html and f"閱讀全文: {url}" in text


# SpamAssassin's "HTML obfuscation" counts a tag that starts or ends inside a word, and CJK text
# has no spaces between its words: 這是<strong>重點</strong>的 is two. Nothing else may fire.
CJK_OBFUSCATION = {"HTML_OBFUSCATE_05_10", "HTML_OBFUSCATE_10_20"}


def spam_report(data: bytes) -> tuple[float, dict[str, float]]:
    """SpamAssassin's score of a message and each rule that fired, offline (-L: no network tests)."""
    run = subprocess.run(["spamassassin", "-L", "-t"], input=data, capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    details = run.stdout.decode("utf-8", "replace").split("Content analysis details:", 1)[1]
    score = float(re.search(r"\((-?[\d.]+) points", details).group(1))
    rules = {m[2]: float(m[1]) for m in re.finditer(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s", details, re.M)}
    return score, rules


@pytest.mark.skipif(shutil.which("spamassassin") is None, reason="needs Debian's spamassassin (.ci/run installs it)")
@pytest.mark.parametrize("mode", ["full", "summary", "digest"])
def test_every_copy_scores_clean_with_spamassassin(newsletter_site, smtp_server, mode) -> None:
    # Subscribers expect the newsletter in their inbox: each copy, as the SMTP server received
    # it, scored by SpamAssassin's rules (headers, MIME structure, text and HTML parts that
    # differ, links, images ...).
    server, _ = smtp_server
    config = newsletter_site(data=SAMPLES, newsletter={"full_content": mode != "summary"})
    store = campaigns.open_store(config)
    subscribe(store, "reader@example.com")
    send(config, store, digest=mode == "digest")
    store.close()
    assert len(server.messages) == (1 if mode == "digest" else 2)
    for _, _, data in server.messages:
        score, rules = spam_report(data)
        ours = {rule: points for rule, points in rules.items() if points > 0 and rule not in CJK_OBFUSCATION}
        assert not ours and score < 2.0, (score, rules)
