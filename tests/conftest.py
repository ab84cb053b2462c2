"""Shared fixtures: a throw-away site on disk (config + content/) built from small files."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config, load_config

DATA = Path(__file__).parent / "data"
TAIPEI = ZoneInfo("Asia/Taipei")
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=TAIPEI)
"""The fixed 'now' of every test: sample posts are from January 2026."""

BASE_CONFIG = {
    "title": "Test Blog",
    "description": "A blog for tests",
    "base_url": "https://blog.example.com/",
    "language": "zh-TW",
    "timezone": "Asia/Taipei",
}


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, settings: dict[str, object]) -> Path:
    lines, tables = [], []
    for key, value in settings.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in value.items()))
        else:
            lines.append(f"{key} = {toml_value(value)}\n")
    path.write_text("".join(lines) + "\n".join(tables), encoding="utf-8")
    return path


MakeSite = Callable[..., Config]


@pytest.fixture
def make_site(tmp_path: Path) -> MakeSite:
    """make_site({"posts/a.md": text_or_bytes, ...}, data=["posts/x.md"], **settings) -> Config.

    Files are written under <tmp>/site/content/; `data` names files under tests/data/ to copy
    there (keeping their relative path); settings override BASE_CONFIG.
    """

    def make(files: dict[str, str | bytes] | None = None, data: list[str] = (), **settings: object) -> Config:
        root = tmp_path / "site"
        content = root / "content"
        content.mkdir(parents=True, exist_ok=True)
        for name in data:
            target = content / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA / name, target)
        for name, text in (files or {}).items():
            target = content / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(text, bytes):
                target.write_bytes(text)
            else:
                target.write_text(text, encoding="utf-8")
        return load_config(write_config(root / "publisher.toml", {**BASE_CONFIG, **settings}))

    return make


def post_text(
    title: str = "Hello", date: str = "2026-01-10T09:00:00+08:00", body: str = "Body text.", **extra: object
) -> str:
    """A minimal YAML post; extra keys are written as given (strings are quoted)."""
    lines = ["---", f"title: {toml_value(title)}", f"date: {date}"]
    for key, value in extra.items():
        lines.append(f"{key}: {toml_value(value)}")
    return "\n".join([*lines, "---", "", body, ""])


# -- the newsletter: a real SMTP server on 127.0.0.1 --------------------------------------
SECRET = "test-secret-0123456789abcdef"


class SmtpRecorder:
    """aiosmtpd handler that keeps every accepted message and injects faults on request."""

    def __init__(self) -> None:
        import threading

        self.messages: list[tuple[str, str, bytes]] = []  # (mail from, rcpt to, data)
        self.permanent: dict[str, str] = {}  # address -> 5xx reply at RCPT
        self.temporary: dict[str, int] = {}  # address -> how many 451 replies before accepting
        self.drop_every = 0  # drop the connection instead of answering every Nth DATA
        self.delay = 0.0  # seconds per DATA (a slow relay)
        self.pipelining = True  # advertise RFC 2920 PIPELINING, as Postfix and most relays do
        self.data_count = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.permanent:
            return self.permanent[address]
        with self.lock:
            if self.temporary.get(address, 0) > 0:
                self.temporary[address] -= 1
                return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        with self.lock:
            self.data_count += 1
            drop = self.drop_every and self.data_count % self.drop_every == 0
        if self.delay:
            await asyncio.sleep(self.delay)
        if drop:
            server.transport.close()
            return "421 4.4.2 connection dropped"
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((envelope.mail_from, rcpt, envelope.original_content))
        return "250 OK queued"

    def recipients(self) -> list[str]:
        return [rcpt for _, rcpt, _ in self.messages]

    def parsed(self) -> list:  # email.message.EmailMessage
        import email
        from email import policy

        return [email.message_from_bytes(data, policy=policy.default) for _, _, data in self.messages]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real aiosmtpd server on 127.0.0.1; yields (recorder, port)."""
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


NEWSLETTER = {
    "from": "Test Blog 測試 <news@blog.example.com>",
    "unsubscribe_url": "https://blog.example.com/unsubscribe/",
    "unsubscribe_mailto": "unsubscribe@blog.example.com",
}


@pytest.fixture
def newsletter_site(make_site, smtp_server, monkeypatch):
    """make_site with [smtp] pointing at the test server and [newsletter] filled in."""
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", SECRET)
    _, port = smtp_server

    def make(files=None, data=(), smtp=None, newsletter=None, **settings):
        smtp_table = {"host": "127.0.0.1", "port": port, "security": "none", "connections": 2, "timeout": 5}
        return make_site(
            files,
            data=data,
            smtp={**smtp_table, **(smtp or {})},
            newsletter={**NEWSLETTER, **(newsletter or {})},
            **settings,
        )

    return make


WEB_SAMPLE = "posts/2026-01-05-groq-nvidia-prefill-decode.md"


@contextlib.contextmanager
def running(config: Config) -> Iterator[None]:
    """A real `publisher serve` (uvicorn on 127.0.0.1, its own store) while in the block."""
    import threading
    import time

    from publisher.web import serve

    uv = serve(config)
    uv.config.install_signal_handlers = False
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield
    finally:
        uv.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def web(newsletter_site, smtp_server):
    """web(**server settings) starts a real `publisher serve` (uvicorn on 127.0.0.1) for a site
    with one post; returns (base url, config, store)."""
    from publisher import campaigns
    from publisher.publishing import build

    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with contextlib.ExitStack() as servers:

        def start(**server: object):
            config = newsletter_site(
                data=[WEB_SAMPLE],
                server={"port": port, "public_url": base, **server},
                newsletter={"unsubscribe_url": base + "unsubscribe/"},
            )
            build(config)
            servers.enter_context(running(config))
            return base, config, campaigns.open_store(config)

        yield start


@pytest.fixture
def hugo_html(tmp_path: Path) -> Callable[[dict[str, str]], dict[str, str]]:
    """Renders Markdown bodies with Hugo's Goldmark, as the blog's own pages show them: the
    peer our rendering is held to. Skips where Hugo is not installed (CI installs it)."""
    if shutil.which("hugo") is None:
        pytest.skip("hugo is not installed (apt-get install hugo)")

    def render(bodies: dict[str, str]) -> dict[str, str]:
        site = tmp_path / "hugo"
        shutil.rmtree(site, ignore_errors=True)
        (site / "layouts/_default").mkdir(parents=True)
        (site / "layouts/_default/single.html").write_text("{{ .Content }}")
        (site / "layouts/_default/list.html").write_text("-")
        (site / "hugo.toml").write_text(
            'baseURL = "https://blog.example.com/"\n'
            'disableKinds = ["taxonomy", "term", "RSS", "sitemap"]\n'
            "[markup.goldmark.renderer]\nunsafe = true\n"
            "[markup.highlight]\ncodeFences = false\n"  # <pre><code>, not Chroma's <div class="highlight">
        )
        (site / "content/p").mkdir(parents=True)
        for name, body in bodies.items():
            (site / f"content/p/{name}.md").write_text(f"---\ntitle: {name}\n---\n{body}", encoding="utf-8")
        subprocess.run(["hugo", "--quiet", "--source", str(site)], check=True, capture_output=True)
        return {name: (site / f"public/p/{name}/index.html").read_text(encoding="utf-8") for name in bodies}

    return render


HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def canonical_html(html: str) -> str:
    """HTML with what does not show told away: attribute order, whitespace between blocks,
    ARIA roles (Goldmark's footnotes carry them), `<hr>` vs `<hr />`, a code block's last
    newline and class, and heading ids (Hugo's; a feed item or an email needs none)."""
    from lxml import html as lxml_html

    root = lxml_html.fragment_fromstring(html, create_parent="div")
    for el in root.iter():
        if isinstance(el.tag, str):
            hidden = {"role"} | ({"id"} if el.tag in HEADINGS else set()) | ({"class"} if el.tag == "pre" else set())
            attributes = sorted((k, v) for k, v in el.attrib.items() if k not in hidden)
            el.attrib.clear()
            el.attrib.update(attributes)
            if el.tag == "code" and el.getparent() is not None and el.getparent().tag == "pre" and el.text:
                el.text = el.text.rstrip("\n")
        in_pre = any(a.tag == "pre" for a in el.iterancestors()) or el.tag == "pre"
        for end in ("text", "tail"):
            value = getattr(el, end) or ""
            if not value.strip():
                setattr(el, end, None)
            elif not (in_pre if end == "text" else any(a.tag == "pre" for a in el.iterancestors())):
                setattr(el, end, re.sub(r"\s+", " ", value))  # a browser shows a run as one space
    out = lxml_html.tostring(root, encoding="unicode")
    return _AROUND_BLOCKS.sub(r"\1", out)  # whitespace next to a block shows nowhere


_AROUND_BLOCKS = re.compile(r"\s+(</?(?:p|pre|ul|ol|li|div|blockquote|h[1-6]|table|hr|dl|dd|dt)\b)")
