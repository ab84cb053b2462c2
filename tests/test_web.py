"""The subscription endpoints over real HTTP: uvicorn on 127.0.0.1, confirmation mail to aiosmtpd."""

from __future__ import annotations

import re
import shutil
import time

import httpx
import pytest


def csrf_form(client: httpx.Client) -> str:
    page = client.get("subscribe")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_subscribe_confirm_flow(web, smtp_server, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="publisher.web")
    server, _ = smtp_server
    base, _config, store = web()
    with httpx.Client(base_url=base) as client:
        token = csrf_form(client)
        form = client.get("subscribe").text
        assert 'value="Groq"' in form and 'value="AI 產業"' in form  # topics to choose from
        response = client.post(
            "subscribe",
            data={"csrf": token, "email": "New@Example.com", "name": "新讀者", "topics": ["Groq", "not-a-topic"]},
        )
        assert response.status_code == 200 and "請查看收件匣" in response.text  # the site speaks zh-TW
        sub = store.subscriber("new@example.com")
        assert sub.status == "pending" and sub.name == "新讀者" and sub.topics == ("Groq",)
        wait_for(lambda: server.messages)
        (mail,) = server.parsed()
        assert mail["To"].addresses[0].addr_spec == "new@example.com"
        link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", mail.get_body(("plain",)).get_content()).group(1)
        confirmed = client.get(link)
        assert confirmed.status_code == 200
        assert store.subscriber("new@example.com").status == "confirmed"
        assert client.get(link).status_code == 200  # following it again changes nothing
        assert client.get(link + "x").status_code == 400
    sub_id = store.subscriber("new@example.com").id
    assert f"event=subscribe subscriber={sub_id} confirmation=True" in caplog.text  # the operator can follow it
    assert f"event=confirmed subscriber={sub_id}" in caplog.text and "new@example.com" not in caplog.text


def test_a_confirmation_the_relay_defers_is_sent_again(web, smtp_server, monkeypatch) -> None:
    # Greylisting (451 at first) or a relay restarting: the visitor, told to check their inbox,
    # still gets the link. A permanent refusal (550) is not retried.
    from publisher import web as web_mod

    monkeypatch.setattr(web_mod, "CONFIRM_RETRIES", (0.2, 0.2))
    server, _ = smtp_server
    server.temporary["later@example.com"] = 2
    server.permanent["never@example.com"] = "550 5.1.1 no such user"
    base, _config, _store = web()
    with httpx.Client(base_url=base) as client:
        for address in ("later@example.com", "never@example.com"):
            response = client.post("subscribe", data={"csrf": csrf_form(client), "email": address})
            assert response.status_code == 200
        wait_for(lambda: "later@example.com" in server.recipients())
    time.sleep(0.6)
    assert server.recipients() == ["later@example.com"]


def test_response_never_reveals_whether_an_address_is_known(web, smtp_server) -> None:
    server, _ = smtp_server
    base, _config, store = web()
    store.add_subscribers([{"email": "known@example.com", "name": "", "status": "confirmed"}], resubscribe=False)
    with httpx.Client(base_url=base) as client:
        known = client.post("subscribe", data={"csrf": csrf_form(client), "email": "known@example.com"})
        unknown = client.post("subscribe", data={"csrf": csrf_form(client), "email": "unknown@example.com"})
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text)
    wait_for(lambda: server.messages)
    time.sleep(0.2)
    assert server.recipients() == ["unknown@example.com"]  # the confirmed address gets no mail
    assert store.subscriber("known@example.com").status == "confirmed"


def test_form_needs_its_csrf_token(web, smtp_server) -> None:
    base, _config, store = web()
    with httpx.Client(base_url=base) as client:
        assert client.post("subscribe", data={"email": "a@example.com"}).status_code == 403
        token = csrf_form(client)
    with httpx.Client(base_url=base) as other:  # a token without its cookie
        assert other.post("subscribe", data={"csrf": token, "email": "a@example.com"}).status_code == 403
    assert store.subscriber("a@example.com") is None


def test_invalid_email_is_explained(web) -> None:
    base, _config, _store = web()
    with httpx.Client(base_url=base) as client:
        response = client.post("subscribe", data={"csrf": csrf_form(client), "email": "not an address"})
    assert response.status_code == 400 and 'role="alert"' in response.text
    assert 'value="not an address"' in response.text  # what was typed is kept


def test_subscriptions_are_rate_limited_per_client(web) -> None:
    base, _config, _store = web(subscribe_rate="2/h")
    with httpx.Client(base_url=base) as client:
        codes = [
            client.post("subscribe", data={"csrf": csrf_form(client), "email": f"r{i}@example.com"}).status_code
            for i in range(3)
        ]
    assert codes == [200, 200, 429]


def test_request_bodies_are_capped(web) -> None:
    base, _config, _store = web()
    with httpx.Client(base_url=base) as client:
        response = client.post(
            "subscribe",
            content=b"email=" + b"a" * 100_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413


def test_one_click_unsubscribe(web, smtp_server) -> None:
    from publisher.subscriptions import Tokens
    from tests.conftest import SECRET

    base, _config, store = web()
    store.add_subscribers([{"email": "bye@example.com", "name": "", "status": "confirmed"}], resubscribe=False)
    token = Tokens(SECRET).unsubscribe(store.subscriber("bye@example.com").id)
    with httpx.Client(base_url=base) as client:
        page = client.get(f"unsubscribe/{token}")
        assert page.status_code == 200 and 'name="List-Unsubscribe" value="One-Click"' in page.text
        assert '<p class="address">bye@example.com</p>' in page.text  # which address is leaving
        # RFC 8058: what Gmail/Yahoo send; no cookies, no redirect.
        response = client.post(
            f"unsubscribe/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200 and "set-cookie" not in response.headers
        assert store.subscriber("bye@example.com").status == "unsubscribed"
        again = client.post(f"unsubscribe/{token}", content=b"List-Unsubscribe=One-Click")
        assert again.status_code == 200
        assert client.post(f"unsubscribe/{token[:-2]}xx").status_code == 400


def test_feeds_are_served_with_conditional_get(web) -> None:
    base, _config, _store = web()
    with httpx.Client(base_url=base) as client:
        rss = client.get("index.xml")
        assert rss.status_code == 200 and rss.headers["content-type"].startswith("application/rss+xml")
        assert client.get("atom.xml").headers["content-type"].startswith("application/atom+xml")
        assert client.get("feed.json").headers["content-type"].startswith("application/feed+json")
        etag, modified = rss.headers["etag"], rss.headers["last-modified"]
        assert client.get("index.xml", headers={"if-none-match": etag}).status_code == 304
        assert client.get("index.xml", headers={"if-modified-since": modified}).status_code == 304
        assert client.get("tags/groq/index.xml").status_code == 200
        assert client.get("healthz").text == "ok"


def newsboat(urls: list[str], home) -> list[dict]:
    """A real feed reader's view: newsboat reloads the feeds into its cache, which is read back."""
    import sqlite3
    import subprocess

    (home / "urls").write_text("\n".join(urls) + "\n", encoding="utf-8")
    run = subprocess.run(
        ["newsboat", "-u", str(home / "urls"), "-c", str(home / "cache.db"), "-C", "/dev/null", "-x", "reload"],
        capture_output=True,
        timeout=60,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    with sqlite3.connect(home / "cache.db") as db:
        db.row_factory = sqlite3.Row
        feeds = {r["rssurl"]: dict(r) for r in db.execute("SELECT * FROM rss_feed")}
        items = [dict(r) | {"feed": feeds[r["feedurl"]]} for r in db.execute("SELECT * FROM rss_item")]
    return items


@pytest.mark.skipif(shutil.which("newsboat") is None, reason="needs Debian's newsboat (.ci/run installs it)")
@pytest.mark.parametrize("feed", ["index.xml", "atom.xml"])
def test_a_feed_reader_keeps_one_item_per_post_through_edits(web, tmp_path, feed) -> None:
    # newsboat, polling the served feed: CJK title, link, author and date as written; an edit
    # (new title, new body) updates the item it has instead of adding a second one, and a new
    # post is one new item.
    from publisher.publishing import build
    from tests.conftest import post_text

    base, config, _store = web()
    url = "https://blog.example.com/posts/2026-01-05-groq-nvidia-prefill-decode/"
    (item,) = newsboat([base + feed], tmp_path)
    assert item["guid"] == url and item["url"] == url
    assert item["title"] == "Groq 攜手 NVIDIA：Chamath 親解「Pre-fill 與 Decode」的架構之爭"
    assert "Test Blog" in item["author"]  # the site's author: the post names none
    assert item["pubDate"] == 1767585600  # 2026-01-05 12:00 +08:00
    assert "LLM 的兩張面孔" in item["content"]

    post = config.content_dir / "posts/2026-01-05-groq-nvidia-prefill-decode.md"
    text = post.read_text(encoding="utf-8").replace("LLM 的兩張面孔", "LLM 的三張面孔")
    post.write_text(text.replace('title: "', 'title: "更新：', 1), encoding="utf-8")
    (config.content_dir / "posts/new.md").write_text(post_text("新文章", date="2026-01-07T08:00:00+08:00"))
    build(config)
    items = {i["guid"]: i for i in newsboat([base + feed], tmp_path)}
    assert set(items) == {url, "https://blog.example.com/posts/new/"}
    assert items[url]["title"].startswith("更新：Groq") and "LLM 的三張面孔" in items[url]["content"]
    assert items["https://blog.example.com/posts/new/"]["title"] == "新文章"

    # It keeps our ETag and Last-Modified (from its second poll on) for the conditional GETs of
    # the next ones, which test_feeds_are_served_with_conditional_get answers 304.
    assert items[url]["feed"]["etag"] and items[url]["feed"]["lastmodified"] > 0
    assert {i["guid"]: i["title"] for i in newsboat([base + feed], tmp_path)} == {
        g: i["title"] for g, i in items.items()
    }


def test_topics_follow_new_posts(web) -> None:
    from publisher.publishing import build
    from publisher.web import _Topics
    from tests.conftest import post_text

    _base, config, _ = web()
    topics = _Topics(config)
    assert "Brand-new tag" not in topics.names()
    (config.content_dir / "posts/new.md").write_text(post_text(tags=["Brand-new tag"]), encoding="utf-8")
    build(config)
    topics.read_at -= _Topics.TTL  # a minute later
    assert "Brand-new tag" in topics.names()


def test_an_ipv6_host_is_listened_on(make_site) -> None:
    import socket

    import pytest

    from publisher.web import listen
    from tests.conftest import free_port

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:  # a container without IPv6
        pytest.skip(f"::1 cannot be bound here: {exc}")
    config = make_site(server={"host": "::1", "port": free_port()})
    with listen(config) as sock:
        assert sock.family == socket.AF_INET6


def test_a_queued_confirmation_survives_a_restart_and_goes_out_once(newsletter_site, smtp_server, monkeypatch) -> None:
    # The relay says "try later" (greylisting) and the server restarts before the retry: the
    # next server finds the confirmation in the database and sends it, once, with a link that
    # works. One the relay refuses for good is dropped, not retried.
    from publisher import campaigns, subscriptions
    from publisher import web as web_mod
    from tests.conftest import free_port, running

    monkeypatch.setattr(web_mod, "CONFIRM_RETRIES", (2.0, 2.0))  # the first server is gone by then
    server, _ = smtp_server
    server.temporary["later@example.com"] = 1
    server.permanent["never@example.com"] = "550 5.1.1 no such user"
    base = f"http://127.0.0.1:{free_port()}/"
    config = newsletter_site(server={"port": int(base.rsplit(":", 1)[1].strip("/")), "public_url": base})
    store = campaigns.open_store(config)
    later = subscriptions.subscribe(store, "later@example.com").subscriber_id
    store.queue_confirmation(later)
    store.queue_confirmation(subscriptions.subscribe(store, "never@example.com").subscriber_id)
    with running(config):
        wait_for(lambda: _queued(store) == [(later, 1)])  # deferred once; the refused one dropped
    assert server.recipients() == []  # the server stopped before the retry

    with running(config):  # a new server: what it knows comes from the database
        wait_for(lambda: server.recipients() == ["later@example.com"], timeout=10)
        wait_for(lambda: _queued(store) == [])
        (msg,) = server.parsed()
        link = re.search(r"http://\S+/confirm/\S+", msg.get_body(("plain",)).get_content()).group(0)
        assert httpx.get(link).status_code == 200
    assert store.subscriber("later@example.com").status == "confirmed"
    assert server.recipients() == ["later@example.com"]


def _queued(store) -> list[tuple[int, int]]:
    """(subscriber id, tries so far) of the confirmations waiting in the database."""
    from publisher.store import confirmations

    with store.tx() as conn:
        return [(row.subscriber_id, row.attempts) for row in conn.execute(confirmations.select())]
