"""Who gets the newsletter: address rules, signed tokens, CSV import/export. Framework-free.

Addresses are validated with email-validator (syntax, internationalized domains) and
compared case-insensitively. Unsubscribe tokens are signed with itsdangerous using the
secret from PUBLISHER_SECRET_KEY, so they can't be forged or turned into another
subscriber's.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

import idna
from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer

from publisher.errors import ConfigError, PublisherError
from publisher.models import Subscriber
from publisher.store import STATUSES, Store

SECRET_ENV = "PUBLISHER_SECRET_KEY"
MIN_SECRET_LENGTH = 16


class SubscriberError(PublisherError):
    """A bad address or unknown subscriber given by the operator."""

    exit_code = 1


def normalize_email(address: str) -> str:
    """The canonical, lower-case form of an address; SubscriberError says what is wrong."""
    address = address.strip()
    try:
        info = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"{address!r}: {exc}") from None
    return info.normalized.lower()


def smtp_address(address: str) -> str:
    """The form to put in RCPT TO: internationalized domains in their ASCII (IDNA) form."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        # IDNA 2008 with UTS 46, as email-validator checks it: Python's "idna" codec is IDNA 2003,
        # which maps ß to ss and ς to σ, i.e. a different domain (faß.de would be mailed at fass.de).
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except UnicodeError:  # idna.IDNAError included
        return address


# -- tokens --------------------------------------------------------------------------------
def secret_key() -> str:
    """The signing secret; a clear error before anything is sent when it is missing."""
    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{SECRET_ENV} is {'too short' if secret else 'not set'}: set it to a random secret of at least "
            f"{MIN_SECRET_LENGTH} characters (e.g. `export {SECRET_ENV}=$(openssl rand -hex 32)`), "
            "kept outside the repository; unsubscribe links are signed with it"
        )
    return secret


class Tokens:
    """Signed, URL-safe tokens naming a subscriber."""

    def __init__(self, secret: str):
        # A bare HMAC signer for unsubscribe links: one is made per message sent, and the
        # JSON + zlib of a serializer would cost 5x more for the same guarantee.
        self._unsubscribe = Signer(secret, salt="publisher.unsubscribe", digest_method=hashlib.sha256)
        self._confirm = URLSafeTimedSerializer(secret, salt="publisher.confirm")

    def unsubscribe(self, subscriber_id: int) -> str:
        """Never expires: an unsubscribe link in a years-old email must still work."""
        return self._unsubscribe.sign(str(subscriber_id).encode("ascii")).decode("ascii")

    def unsubscribe_id(self, token: str) -> int | None:
        try:
            value = self._unsubscribe.unsign(token.encode("utf-8"))
        except BadSignature:
            return None
        return int(value) if value.isdigit() and len(value) < 19 else None

    def confirm(self, subscriber_id: int) -> str:
        return self._confirm.dumps(subscriber_id)

    def confirm_id(self, token: str, max_age: int) -> int | None:
        try:
            value = self._confirm.loads(token, max_age=max_age)
        except (BadSignature, SignatureExpired):
            return None
        return value if type(value) is int else None  # not bool, not anything else


# -- operator actions ----------------------------------------------------------------------
@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)  # "file:line: message"


def add(store: Store, emails: Iterable[str], name: str = "", topics: Iterable[str] = ()) -> ImportReport:
    """Operator-added addresses are confirmed (they vouch for them) and re-subscribe if they left."""
    rows, report = [], ImportReport()
    for email in emails:
        try:
            rows.append(
                {
                    "email": normalize_email(email),
                    "name": name,
                    "status": "confirmed",
                    "topics": tuple(topics) or None,
                    "source": "cli",
                }
            )
        except SubscriberError as exc:
            report.problems.append(str(exc))
    report.added, report.updated, report.unchanged = store.add_subscribers(_merge(rows), resubscribe=True)
    return report


def remove(store: Store, email: str) -> None:
    """Unsubscribe (the history stays, so an import can never bring the address back)."""
    if not store.set_status(normalize_email(email), "unsubscribed"):
        raise SubscriberError(f"{email}: no such subscriber")


def csv_text(data: bytes, source_name: str) -> str:
    """A CSV file's text: UTF-8 (with or without BOM), or UTF-16 with its BOM (Excel's
    "Unicode text"); anything else is an error naming the line, since guessing a legacy
    encoding (Big5, GBK, Latin-1) would import wrong names without a word."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SubscriberError(
            f"{source_name}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as CSV UTF-8 "
            "(Excel: File > Save As > CSV UTF-8) and import it again"
        ) from None


def import_csv(store: Store, stream: TextIO, source_name: str) -> ImportReport:
    """Columns email, name, topics (topics separated by ';'); a header row is optional, and
    with one a status column (as `export` writes) is honoured.

    Bad rows are reported with their line numbers and skipped; duplicates are merged; an
    address that unsubscribed (or bounced) is never re-subscribed by an import.
    """
    report = ImportReport()
    rows = []
    first = stream.readline()
    stream.seek(0)
    # Excel's "Unicode text" is tab-separated: read it so when its first line has tabs, no commas
    reader = csv.reader(stream, delimiter="\t" if "\t" in first and "," not in first else ",")
    columns = {"email": 0, "name": 1, "topics": 2}
    for record in reader:
        line = reader.line_num
        if not record or not any(cell.strip() for cell in record):
            continue
        lowered = [cell.strip().lower() for cell in record]
        if line == 1 and "email" in lowered:
            columns = {name: lowered.index(name) for name in ("email", "name", "topics", "status") if name in lowered}
            continue
        try:
            email = normalize_email(_cell(record, columns.get("email")))
        except SubscriberError as exc:
            report.problems.append(f"{source_name}:{line}: {exc}")
            continue
        # A status column (as `export` writes) is kept: restoring an export into a new database
        # must not turn unsubscribed, bounced or pending addresses into confirmed ones.
        status = _cell(record, columns.get("status")).strip().lower() or "confirmed"
        if status not in STATUSES:
            report.problems.append(f"{source_name}:{line}: unknown status {status!r} (one of {', '.join(STATUSES)})")
            continue
        topics = tuple(t.strip() for t in re.split(r"[;|]", _cell(record, columns.get("topics"))) if t.strip())
        rows.append(
            {
                "email": email,
                "name": _cell(record, columns.get("name")).strip(),
                "status": status,
                "topics": topics or None,
                "source": "import",
            }
        )
    for chunk in _batches(_merge(rows), 5000):
        added, updated, unchanged = store.add_subscribers(chunk, resubscribe=False)
        report.added += added
        report.updated += updated
        report.unchanged += unchanged
    return report


def export_csv(subscribers: Iterable[Subscriber]) -> Iterator[str]:
    """CSV lines (header first) that `import_csv` reads back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name", "topics", "status", "created_at"])
    for sub in subscribers:
        writer.writerow([sub.email, sub.name, ";".join(sub.topics), sub.status, sub.created_at.isoformat()])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(record: list[str], index: int | None) -> str:
    return record[index] if index is not None and index < len(record) else ""


def _merge(rows: list[dict]) -> list[dict]:
    """One row per address: later rows fill in names and topics."""
    merged: dict[str, dict] = {}
    for row in rows:
        old = merged.get(row["email"])
        if old is None:
            merged[row["email"]] = dict(row)
            continue
        if row.get("name"):
            old["name"] = row["name"]
        if row.get("topics"):
            old["topics"] = tuple(dict.fromkeys((*(old.get("topics") or ()), *row["topics"])))
    return list(merged.values())


def _batches(rows: list[dict], n: int) -> Iterator[list[dict]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


# -- the web flows (double opt-in), framework-free -----------------------------------------
@dataclass(frozen=True)
class Subscription:
    """The outcome of a web subscription, for the caller only: the response never tells
    the visitor whether the address was already known."""

    subscriber_id: int | None
    send_confirmation: bool


def subscribe(store: Store, email: str, name: str = "", topics: Iterable[str] = ()) -> Subscription:
    """A visitor asks to subscribe: a new (or departed) address becomes pending and gets a
    confirmation link; a confirmed one changes nothing; a complaint is respected forever."""
    from publisher.posts import clean_line

    address = normalize_email(email)
    name = clean_line(name)[:200]
    topics = tuple(dict.fromkeys(clean_line(t)[:100] for t in topics if clean_line(t)))[:50]
    existing = store.subscriber(address)
    if existing is None:
        store.add_subscribers(
            [{"email": address, "name": name, "status": "pending", "topics": topics or None, "source": "web"}],
            resubscribe=False,
        )
        existing = store.subscriber(address)
        assert existing is not None
        return Subscription(existing.id, True)
    if existing.status in ("confirmed", "complained"):
        return Subscription(existing.id, False)
    store.set_pending(existing.id, name or existing.name, topics or existing.topics)
    return Subscription(existing.id, True)


def confirm(store: Store, tokens: Tokens, token: str, max_age_hours: int) -> Subscriber | None:
    """Follow a confirmation link: pending -> confirmed, once. None for a bad or expired link."""
    subscriber_id = tokens.confirm_id(token, max_age=max_age_hours * 3600)
    if subscriber_id is None:
        return None
    subscriber = store.subscriber_by_id(subscriber_id)
    if subscriber is None or subscriber.status == "complained":
        return None
    if subscriber.status != "confirmed":
        store.set_status(subscriber.email, "confirmed")
        subscriber = store.subscriber_by_id(subscriber_id)
    return subscriber


def unsubscribe(store: Store, tokens: Tokens, token: str) -> bool:
    """One-click unsubscribe: immediate and idempotent; False for a token that isn't ours."""
    subscriber_id = tokens.unsubscribe_id(token)
    return subscriber_id is not None and store.unsubscribe_id(subscriber_id)
