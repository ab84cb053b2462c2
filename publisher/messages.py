"""The email itself: headers, MIME parts and DKIM; the only importer of dkimpy.

A campaign is rendered once; `MessageFactory` then turns it into each subscriber's copy by
filling in what differs (To, Message-ID, Date, the unsubscribe link in List-Unsubscribe and in
both bodies) around bytes prepared once. Building every copy with `EmailMessage` would cost
~2 ms each; this costs a few tens of microseconds. `EmailMessage` is still used where speed
doesn't matter (`preview`), and the tests check both agree.
"""

from __future__ import annotations

import binascii
import functools
import secrets
import time
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any

from publisher.config import Config
from publisher.errors import ConfigError
from publisher.models import Campaign
from publisher.posts import clean_line
from publisher.subscriptions import Tokens, smtp_address

PLACEHOLDER = "https://unsubscribe.invalid/publisher-unsubscribe-link"
"""Stands where each copy's own unsubscribe link goes; rendered into the campaign's bodies."""

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)
# RFC 8058: the signature must cover both List-Unsubscribe headers (dkimpy's default list doesn't).


@dataclass(frozen=True)
class Envelope:
    """What goes to the SMTP server: MAIL FROM, RCPT TO and the message bytes (CRLF lines)."""

    sender: str
    recipient: str
    data: bytes
    utf8: bool = False  # needs SMTPUTF8 (a non-ASCII local part)


class DkimSigner:
    """Signs messages for the From domain with a key read once from a file outside the repo."""

    def __init__(self, selector: str, domain: str, key_file: Path):
        try:
            self.key = key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"newsletter.dkim_key_file: cannot read {key_file}: {exc.strerror}") from None
        if b"PRIVATE KEY" not in self.key:
            raise ConfigError(f"newsletter.dkim_key_file: {key_file} is not a PEM private key")
        self.selector = selector.encode()
        self.domain = domain.encode()

    def sign_parts(self, headers: list[bytes], body: bytes) -> bytes:
        """The DKIM-Signature header for a message we assembled ourselves: dkimpy gets the
        header fields and body as its own parser would produce them (name, value with CRLFs;
        the raw body), which saves it re-splitting every message into lines."""
        import dkim

        _install_openssl_rsa()
        signer = dkim.DKIM()
        signer.headers = [list(h.partition(b":")[::2]) for h in headers]
        signer.body = body
        try:
            return signer.sign(self.selector, self.domain, self.key, include_headers=list(SIGNED_HEADERS))
        except dkim.KeyFormatError as exc:
            raise ConfigError(f"newsletter.dkim_key_file: unusable key ({exc})") from None

    def sign(self, data: bytes) -> bytes:
        import dkim

        _install_openssl_rsa()
        try:
            header = dkim.sign(data, self.selector, self.domain, self.key, include_headers=list(SIGNED_HEADERS))
        except dkim.KeyFormatError as exc:
            raise ConfigError(f"newsletter.dkim_key_file: unusable key ({exc})") from None
        return header + data


_FAST_KEYS: dict[int, object] = {}


def _install_openssl_rsa() -> None:
    """dkimpy computes RSA with Python's pow(): ~20 ms per 2048-bit signature, which caps
    sending at ~50 signed messages a second per core. PKCS#1 v1.5 signatures are
    deterministic, so the same signature can come from OpenSSL (the `cryptography`
    package) in ~1 ms: this routes dkimpy's one RSA primitive there and leaves everything
    else (canonicalization, header selection, the DKIM-Signature header) to dkimpy. Tests
    check the two give byte-identical signatures and that dkimpy verifies the result."""
    import dkim

    original = getattr(dkim, "_publisher_original_rsa_sign", None)
    if original is not None:
        return
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
    except ImportError:  # without cryptography dkimpy's own (slow) RSA does the work
        return
    original = dkim.RSASSA_PKCS1_v1_5_sign
    algorithms = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}

    def rsa_sign(hash_object: Any, private_key: dict) -> bytes:
        algorithm = algorithms.get(getattr(hash_object, "name", ""))
        if algorithm is None:
            return original(hash_object, private_key)
        key = _FAST_KEYS.get(private_key["modulus"])
        if key is None:
            public = rsa.RSAPublicNumbers(private_key["publicExponent"], private_key["modulus"])
            key = rsa.RSAPrivateNumbers(
                private_key["prime1"],
                private_key["prime2"],
                private_key["privateExponent"],
                private_key["exponent1"],
                private_key["exponent2"],
                private_key["coefficient"],
                public,
            ).private_key()
            _FAST_KEYS[private_key["modulus"]] = key
        return key.sign(hash_object.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm))

    dkim._publisher_original_rsa_sign = original
    dkim.RSASSA_PKCS1_v1_5_sign = rsa_sign
    # dkimpy also parses the PEM key (ASN.1, in Python) for every signature: once is enough.
    dkim.parse_pem_private_key = functools.lru_cache(maxsize=8)(dkim.parse_pem_private_key)


def signer_for(config: Config) -> DkimSigner | None:
    news = config.settings.newsletter
    if not news.dkim_selector or config.dkim_key_file is None:
        return None
    return DkimSigner(news.dkim_selector, sender_domain(config), config.dkim_key_file)


def sender_domain(config: Config) -> str:
    return parseaddr(config.settings.newsletter.sender)[1].rpartition("@")[2].lower()


def require_sending_config(config: Config) -> None:
    """What sending needs beyond building feeds, checked before anything is sent."""
    news = config.settings.newsletter
    if not news.sender:
        raise ConfigError(f"{config.path}: 'newsletter.from' is required to send, e.g. \"Blog <news@example.com>\"")
    if not news.unsubscribe_url:
        raise ConfigError(
            f"{config.path}: 'newsletter.unsubscribe_url' is required to send (the base of the one-click "
            'unsubscribe links), e.g. "https://example.com/unsubscribe/"'
        )


def _header(name: str, value: str) -> bytes:
    """One header, RFC 2047-encoded when not ASCII, folded; CR/LF can never get through."""
    value = clean_line(value)
    if not value.isascii():
        value = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {value}\r\n".encode("ascii")


def _phrase(text: str) -> str:
    """A display phrase: quoted if ASCII, an RFC 2047 encoded word otherwise."""
    text = clean_line(text)
    if text.isascii():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return Header(text, "utf-8").encode()


def _address(name: str, address: str) -> str:
    return formataddr((clean_line(name), smtp_address(address)), charset="utf-8")


def _address_header(header: str, name: str, address: str) -> bytes:
    """`To: name <address>`; a name so long that, as one encoded word, its line would pass
    SMTP's 998-byte limit (a 400-character CJK name) is folded into a word per line. (Only
    then: a reader's client joins the words, Python's own parser puts spaces between them.)"""
    name = clean_line(name)
    value = formataddr((name, address), charset="utf-8")
    if len(value) < 900 or name.isascii():
        return _header(header, value)
    words = Header(name, "utf-8", header_name=header).encode(linesep="\r\n")
    return f"{header}: {words} <{address}>\r\n".encode("ascii")


class MessageFactory:
    """Every subscriber's copy of one campaign."""

    def __init__(self, campaign: Campaign, config: Config, tokens: Tokens, signer: DkimSigner | None = None):
        news = config.settings.newsletter
        name, address = parseaddr(news.sender)
        self.sender = smtp_address(address)
        self.domain = sender_domain(config)
        self.campaign = campaign
        self.tokens = tokens
        self.signer = signer
        self.unsubscribe_base = news.unsubscribe_url.rstrip("/") + "/"  # the token is a path segment
        self.mailto = news.unsubscribe_mailto
        self.boundary = "=_publisher_" + secrets.token_hex(12)
        fixed = [_header("From", _address(name, address)), _header("Subject", campaign.subject)]
        if news.reply_to:
            fixed.append(_header("Reply-To", news.reply_to))
        fixed.append(_header("List-Id", _phrase(config.settings.title) + f" <newsletter.{self.domain}>"))
        fixed.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        fixed.append(b"MIME-Version: 1.0\r\n")
        fixed.append(f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n'.encode())
        self.fixed_headers = fixed
        self.text_part = _Base64Part("text/plain", campaign.text)
        self.html_part = _Base64Part("text/html", campaign.html)
        self._date = ("", 0)
        self._nonce = secrets.token_hex(6) + "."
        self._sequence = 0

    def unsubscribe_url(self, subscriber_id: int) -> str:
        return self.unsubscribe_base + self.tokens.unsubscribe(subscriber_id)

    def build(self, subscriber_id: int, email: str, name: str = "") -> Envelope:
        url = self.unsubscribe_url(subscriber_id)
        recipient = smtp_address(email)
        unsubscribe = f"<{url}>"
        if self.mailto:
            unsubscribe += f", <mailto:{self.mailto}?subject=unsubscribe>"
        self._sequence += 1  # unique per copy and per factory; no system call per message
        message_id = f"<{self.campaign.id}.{subscriber_id}.{self._nonce}{self._sequence}@{self.domain}>"
        headers = [
            *self.fixed_headers,
            _address_header("To", name, recipient),
            f"Date: {self._now()}\r\n".encode(),
            f"Message-ID: {message_id}\r\n".encode(),
            _header("List-Unsubscribe", unsubscribe),
        ]
        b = b"--" + self.boundary.encode()
        body = b"".join(
            [
                b"This is a multi-part message in MIME format.\r\n",
                b,
                b"\r\n",
                self.text_part.render(url),
                b,
                b"\r\n",
                self.html_part.render(url),
                b,
                b"--\r\n",
            ]
        )
        signature = self.signer.sign_parts(headers, body) if self.signer is not None else b""
        data = signature + b"".join(headers) + b"\r\n" + body
        return Envelope(self.sender, recipient, data, utf8=not recipient.isascii())

    def _now(self) -> str:
        """The Date header, formatted at most once a second."""
        second = int(time.time())
        if self._date[1] != second:
            self._date = (formatdate(second, usegmt=True), second)
        return self._date[0]


LINE = 57  # bytes per base64 line (76 characters)


class _Base64Part:
    """A MIME part whose body differs per copy only from the first placeholder on.

    The unsubscribe link sits in the footer, so nearly all of the body comes before it:
    that prefix is base64-encoded once, cut at a whole number of 57-byte lines so the
    per-copy tail continues the same line layout, and each copy encodes only the tail.
    """

    def __init__(self, content_type: str, body: str):
        self.head = f"Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
        prefix, marker, rest = body.partition(PLACEHOLDER)
        raw = prefix.encode("utf-8")
        cut = len(raw) - len(raw) % LINE if marker else len(raw)
        self.encoded_prefix = _base64_lines(raw[:cut])
        self.prefix_tail = raw[cut:]
        self.tail = (marker + rest) if marker else ""

    def render(self, url: str) -> bytes:
        tail = self.prefix_tail + self.tail.replace(PLACEHOLDER, url).encode("utf-8")
        return self.head + self.encoded_prefix + _base64_lines(tail)


def _base64_lines(data: bytes) -> bytes:
    """RFC 2045 base64: 76-character lines ending in CRLF (one C call per line)."""
    b2a = binascii.b2a_base64
    return b"".join([b2a(data[i : i + LINE], newline=False) + b"\r\n" for i in range(0, len(data), LINE)])


def single_message(config: Config, to: str, subject: str, html: str, text: str) -> Envelope:
    """A one-off transactional email (confirmation links): built with EmailMessage, since
    speed doesn't matter here; same From, Message-ID domain and DKIM as the newsletter."""
    from email.message import EmailMessage
    from email.utils import make_msgid

    news = config.settings.newsletter
    name, address = parseaddr(news.sender)
    domain = sender_domain(config)
    msg = EmailMessage()
    msg["From"] = _address(name, address)
    msg["To"] = smtp_address(to)
    msg["Subject"] = clean_line(subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=domain)
    if news.reply_to:
        msg["Reply-To"] = news.reply_to
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    signer = signer_for(config)
    if signer is not None:
        data = signer.sign(data)
    recipient = smtp_address(to)
    return Envelope(smtp_address(address), recipient, data, utf8=not recipient.isascii())
