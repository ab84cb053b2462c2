"""The subscription pages in a real browser: Debian's Chromium, headless, driven by Playwright."""

from __future__ import annotations

import re
import shutil
import time

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    if not shutil.which("chromium"):
        pytest.fail("chromium is not installed: apt-get install chromium fonts-noto-cjk (.ci/run does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_subscribe_confirm_and_unsubscribe_in_chromium(browser, web, smtp_server, tmp_path) -> None:
    server, _ = smtp_server
    base, _, store = web()
    # JavaScript off: the form must work without it.
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(base + "subscribe")
    assert page.title().startswith("訂閱 Test Blog")
    page.fill("#email", "reader@example.com")
    page.fill("#name", "讀者")
    page.check("input[name=topics][value=Groq]")
    page.click("button[type=submit]")
    assert "請查看收件匣" in page.inner_text("h1")
    page.screenshot(path=str(tmp_path / "subscribed.png"))
    assert store.subscriber("reader@example.com").status == "pending"

    wait_for(lambda: server.messages)
    mail = server.parsed()[0]
    link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", mail.get_body(("plain",)).get_content()).group(1)
    page.goto(link)
    assert "訂閱已確認" in page.inner_text("h1")
    sub = store.subscriber("reader@example.com")
    assert sub.status == "confirmed" and sub.topics == ("Groq",) and sub.name == "讀者"

    # Unsubscribe by the button on the page the email links to.
    from publisher.subscriptions import Tokens
    from tests.conftest import SECRET

    token = Tokens(SECRET).unsubscribe(sub.id)
    page.goto(base + f"unsubscribe/{token}")
    page.click("button[type=submit]")
    assert "已取消訂閱" in page.inner_text("h1")
    assert store.subscriber("reader@example.com").status == "unsubscribed"
    context.close()


def test_one_click_post_from_the_browser(browser, web) -> None:
    from publisher.subscriptions import Tokens
    from tests.conftest import SECRET

    base, _, store = web()
    store.add_subscribers([{"email": "click@example.com", "name": "", "status": "confirmed"}], resubscribe=False)
    token = Tokens(SECRET).unsubscribe(store.subscriber("click@example.com").id)
    context = browser.new_context()
    response = context.request.post(
        base + f"unsubscribe/{token}",
        data="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
        max_redirects=0,
    )
    assert response.status == 200
    assert store.subscriber("click@example.com").status == "unsubscribed"
    context.close()
