"""The HTTP endpoints: subscribe (double opt-in), confirm, unsubscribe (RFC 8058 one-click),
the feeds with conditional GET, and /healthz. The only importer of Starlette and uvicorn.

Thin: each handler validates input, calls `subscriptions`, and maps the outcome to a page and
a status code. Abuse limits live here: per-address rate limit on POST /subscribe, CSRF
tokens on the form, a cap on request bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher import subscriptions
from publisher.config import Config, rate_limit
from publisher.errors import ConfigError, PublisherError
from publisher.store import Store

log = logging.getLogger("publisher.web")

MAX_BODY = 16 * 1024  # bytes: a subscription form is a few hundred
CSRF_COOKIE = "publisher_csrf"
CSRF_MAX_AGE = 4 * 3600
FEED_TYPES = {
    "index.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
}


class BodyLimit:
    """413 for bodies over MAX_BODY, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)


class _TooLarge(Exception):
    pass


class PerClientLimit:
    """A token bucket per client address (in memory: one process serves the endpoints)."""

    def __init__(self, per_second: float, burst: float):
        self.rate, self.burst = per_second, burst
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            if len(self.buckets) > 10000:  # forget idle clients
                self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 3600}
            tokens, updated = self.buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - updated) * self.rate)
            allowed = tokens >= 1
            self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        return allowed


class FeedFiles(StaticFiles):
    """output_dir with feed media types; ETag, Last-Modified and 304 come from StaticFiles."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media = FEED_TYPES.get(str(full_path).rsplit("/", 1)[-1])
        if media:
            response.headers["content-type"] = media
        response.headers.setdefault("cache-control", "public, max-age=300")
        return response


def create_app(config: Config, store: Store | None = None, mailer: Callable[[Any], None] | None = None) -> Starlette:
    """The ASGI app. `mailer(envelope)` sends confirmation emails (default: SMTP per config)."""
    from publisher import messages
    from publisher.campaigns import open_store
    from publisher.rendering import Renderer

    messages.require_sending_config(config)
    if not config.settings.server.public_url:
        raise ConfigError(
            f"{config.path}: 'server.public_url' is required to serve (the base of the confirmation links), "
            'e.g. "https://example.com/"'
        )
    secret = subscriptions.secret_key()
    tokens = subscriptions.Tokens(secret)
    csrf = URLSafeTimedSerializer(secret, salt="publisher.csrf")
    store = store or open_store(config)
    renderer = Renderer(config)
    server = config.settings.server
    per_second = rate_limit(server.subscribe_rate) or 1.0
    limiter = PerClientLimit(per_second, burst=float(server.subscribe_rate.split("/")[0]))  # "10/h": 10 at once
    topics = _Topics(config)

    def confirmation(subscriber: Any) -> Any:
        link = server.public_url + "confirm/" + tokens.confirm(subscriber.id)
        subject, html, text = renderer.confirmation(link, config.settings.newsletter.confirm_hours)
        return messages.single_message(config, subscriber.email, subject, html, text)

    sender = ConfirmationSender(store, confirmation, mailer or _smtp_mailer(config))

    def page(title: str, message: str, status: int = 200) -> HTMLResponse:
        html = renderer.render("web/message.html", site=renderer.site(), title=title, message=message)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    gettext = renderer.gettext

    def form(request: Request, status: int = 200, error: str = "", values: dict | None = None) -> HTMLResponse:
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
        html = renderer.render(
            "web/subscribe.html",
            site=renderer.site(),
            title=gettext("Subscribe to %(site)s", site=config.settings.title),
            csrf=csrf.dumps(nonce),
            topics=topics.names(),
            error=error,
            values=values or {"email": "", "name": "", "topics": ()},
        )
        response = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            max_age=CSRF_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def subscribe_form(request: Request) -> Response:
        return form(request)

    async def subscribe(request: Request) -> Response:
        data = await request.form()
        values = {
            "email": str(data.get("email", ""))[:320],
            "name": str(data.get("name", ""))[:200],
            "topics": tuple(str(t) for t in data.getlist("topics") if str(t) in topics.names()),
        }
        try:
            nonce = csrf.loads(str(data.get("csrf", "")), max_age=CSRF_MAX_AGE)
        except BadSignature:
            nonce = None
        if not nonce or nonce != request.cookies.get(CSRF_COOKIE):
            return form(request, 403, gettext("The form expired. Please submit it again."), values)
        client = request.client.host if request.client else "unknown"
        if not limiter.allow(client):
            return page(gettext("Too many requests"), gettext("Please try again later."), 429)
        try:
            outcome = subscriptions.subscribe(store, values["email"], values["name"], values["topics"])
        except subscriptions.SubscriberError:
            return form(request, 400, gettext("Please enter a valid email address."), values)
        log.info("event=subscribe subscriber=%s confirmation=%s", outcome.subscriber_id, outcome.send_confirmation)
        if outcome.send_confirmation and outcome.subscriber_id is not None:
            store.queue_confirmation(outcome.subscriber_id)
            sender.wake()
        # The same answer whether or not the address was known: nothing to learn here.
        return page(
            gettext("Check your inbox"),
            gettext(
                "If the address can receive mail, a confirmation link is on its way. Follow it to start "
                "receiving %(site)s.",
                site=config.settings.title,
            ),
        )

    async def confirm(request: Request) -> Response:
        subscriber = subscriptions.confirm(
            store, tokens, request.path_params["token"], config.settings.newsletter.confirm_hours
        )
        if subscriber is None:
            return page(gettext("Link not valid"), gettext("This link is invalid or has expired."), 400)
        log.info("event=confirmed subscriber=%d", subscriber.id)
        return page(
            gettext("Subscription confirmed"),
            gettext("You will receive %(site)s by email.", site=config.settings.title),
        )

    async def unsubscribe_page(request: Request) -> Response:
        subscriber_id = tokens.unsubscribe_id(request.path_params["token"])
        if subscriber_id is None:
            return page(gettext("Link not valid"), gettext("This link is invalid or has expired."), 400)
        subscriber = store.subscriber_by_id(subscriber_id)  # the page says which address leaves
        html = renderer.render(
            "web/unsubscribe.html",
            site=renderer.site(),
            title=gettext("Unsubscribe from %(site)s?", site=config.settings.title),
            email=subscriber.email if subscriber is not None else "",
            action=request.path_params["token"],
        )
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    async def unsubscribe(request: Request) -> Response:
        # RFC 8058 one-click: body List-Unsubscribe=One-Click, no cookies, no redirect.
        await request.body()
        if not subscriptions.unsubscribe(store, tokens, request.path_params["token"]):
            return page(gettext("Link not valid"), gettext("This link is invalid or has expired."), 400)
        log.info("event=unsubscribed subscriber=%s", tokens.unsubscribe_id(request.path_params["token"]))
        return page(
            gettext("You are unsubscribed"),
            gettext("You will not receive any more email from %(site)s.", site=config.settings.title),
        )

    async def healthz(request: Request) -> Response:
        try:
            store.count_subscribers()
        except Exception as exc:
            log.error("healthz database check failed: %s", exc)
            return PlainTextResponse("database unavailable", status_code=503)
        return PlainTextResponse("ok")

    routes = [
        Route("/subscribe", subscribe_form, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/confirm/{token}", confirm, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if server.serve_feeds:
        config.output_dir.mkdir(parents=True, exist_ok=True)
        routes.append(Mount("/", app=FeedFiles(directory=str(config.output_dir), html=False)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sender.start()  # also sends what an earlier run (or another server) left queued
        try:
            yield
        finally:
            await asyncio.to_thread(sender.stop)  # waits for a send in flight, not on the event loop

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(BodyLimit)
    app.state.store = store
    return app


CONFIRM_RETRIES = (30.0, 120.0, 600.0, 3600.0)  # seconds before each new try of a confirmation email
CONFIRM_LEASE = timedelta(minutes=5)  # a confirmation being sent is another sender's after this
CONFIRM_POLL = 60.0  # seconds between looks at the queue when nothing wakes the sender


class _Refused(Exception):
    def __init__(self, reply: Any):
        super().__init__(f"refused: {reply}")
        self.temporary = reply.outcome == "temporary"


class ConfirmationSender:
    """Sends the confirmation emails queued in the database, in a thread of its own, so the
    visitor, told to check their inbox, gets the link even when the relay is down or says
    "try later" (greylisting) for a while, and when the server restarts meanwhile: each stays
    queued until the relay takes it, refuses it for good, or CONFIRM_RETRIES run out. Several
    servers on one database share the queue (each confirmation is leased to one)."""

    def __init__(self, store: Store, build: Callable[[Any], Any], send_mail: Callable[[Any], None]):
        self.store, self.build, self.send_mail = store, build, send_mail
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="publisher-confirmations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        """Something was queued: look now."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.send_due()
                due = self.store.next_confirmation_due()
            except Exception as exc:  # the database is away: try again later, never die
                log.error("event=confirmation-queue-failed error=%s", exc)
                due = None
            wait = CONFIRM_POLL if due is None else (due - datetime.now(UTC)).total_seconds()
            self._wake.wait(min(max(wait, 0.05), CONFIRM_POLL))

    def send_due(self) -> None:
        """Send every confirmation that is due, one relay connection each, each claimed just
        before it is sent; stop between two when the server stops."""
        from publisher.transport import ConnectionLost

        while not self._stop.is_set() and (lease := self.store.claim_confirmation(CONFIRM_LEASE)) is not None:
            sid, attempts = lease.subscriber_id, lease.attempts
            subscriber = self.store.subscriber_by_id(sid)
            if subscriber is None or subscriber.status != "pending":  # confirmed, left or removed meanwhile
                self.store.confirmation_done(lease)
                continue
            try:
                self.send_mail(self.build(subscriber))
            except Exception as exc:
                temporary = isinstance(exc, ConnectionLost) or (isinstance(exc, _Refused) and exc.temporary)
                if temporary and attempts < len(CONFIRM_RETRIES):
                    delay = CONFIRM_RETRIES[attempts]
                    log.warning("event=confirmation-deferred subscriber=%d retry_in=%.0fs error=%s", sid, delay, exc)
                    self.store.retry_confirmation(lease, datetime.now(UTC) + timedelta(seconds=delay))
                    continue
                log.error("event=confirmation-failed subscriber=%d error=%s", sid, exc)
            else:
                log.info("event=confirmation-sent subscriber=%d", sid)
            self.store.confirmation_done(lease)


def _smtp_mailer(config: Config) -> Callable[[Any], None]:
    from publisher.transport import send_one

    def send(envelope: Any) -> None:
        reply = send_one(config.settings.smtp, envelope)
        if reply.outcome != "sent":
            raise _Refused(reply)

    return send


class _Topics:
    """Tags and categories of the published posts, what a subscriber may choose from; read
    again at most once a minute, so posts published while the server runs show up."""

    TTL = 60.0

    def __init__(self, config: Config):
        self.config = config
        self.cached: list[str] = []
        self.read_at = -self.TTL
        self.lock = threading.Lock()

    def names(self) -> list[str]:
        from publisher.publishing import current_site

        with self.lock:
            if time.monotonic() - self.read_at >= self.TTL:
                site = current_site(self.config)
                terms = dict.fromkeys(t for e in site.published_index() for t in (*e.categories, *e.tags))
                self.cached, self.read_at = sorted(terms), time.monotonic()
            return self.cached


def listen(config: Config) -> socket.socket:
    """The server's socket, bound now: a port in use is one clear error at start, where uvicorn
    logged it from its thread and `run --serve` went on without its web server."""
    import errno

    server = config.settings.server
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    try:
        return socket.create_server((server.host, server.port), family=family)
    except OSError as exc:
        fix = (
            "stop what uses that port, or set server.port in the config"
            if exc.errno == errno.EADDRINUSE
            else "check server.host and server.port in the config"
        )
        raise PublisherError(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}; {fix}") from None


def serve(config: Config, *, install_signal_handlers: bool = True) -> Any:
    """Run the app under uvicorn until stopped; behind a proxy, client addresses come from
    X-Forwarded-For only when sent by `server.trusted_proxies`."""
    import uvicorn

    server = config.settings.server
    uv_config = uvicorn.Config(
        create_app(config),
        host=server.host,
        port=server.port,
        proxy_headers=True,
        forwarded_allow_ips=server.trusted_proxies,
        log_config=None,  # its lines go through the command's logging: one format, and -q quiets them
        log_level=None,
        access_log=False,
    )
    return uvicorn.Server(uv_config)
