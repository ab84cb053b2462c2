"""Delivering envelopes: an SMTP connection (plain, STARTTLS or implicit TLS, AUTH, timeouts)
that sends many messages, and a shared rate limit. The only importer of smtplib.

Every outcome is classified the way a queue needs it: sent, temporary (4xx, retry later),
permanent (5xx, never retry), or a lost connection (reconnect, retry later).
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Literal

from publisher.config import Config, SmtpSettings
from publisher.messages import Envelope

PASSWORD_ENV = "PUBLISHER_SMTP_PASSWORD"
_DOT_LINE = re.compile(rb"(?m)^\.")

Outcome = Literal["sent", "temporary", "permanent"]


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class ConnectionLost(Exception):
    """The server went away or can't be reached; the message was not accepted."""


class SmtpConnection:
    """One SMTP session reused for many messages; reconnects on demand."""

    def __init__(self, settings: SmtpSettings, password: str | None = None):
        self.settings = settings
        self.password = password if password is not None else os.environ.get(PASSWORD_ENV)
        self.smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        s = self.settings
        helo = s.helo or None
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, local_hostname=helo, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, local_hostname=helo, timeout=s.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
            if s.username:
                if not self.password:
                    smtp.close()
                    raise SmtpConfigError(f"smtp.username is set but {PASSWORD_ENV} is empty")
                smtp.login(s.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpConfigError(f"SMTP login as {s.username!r} refused: {_text(exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpConfigError(f"{s.host}:{s.port}: {exc} (check smtp.security)") from None
        except ssl.SSLError as exc:
            raise SmtpConfigError(
                f"{s.host}:{s.port}: TLS failed ({exc.reason}); check smtp.security and smtp.port"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionLost(f"cannot connect to {s.host}:{s.port}: {exc}") from None
        self.smtp = smtp

    def send(self, envelope: Envelope) -> Reply:
        """Send one message; ConnectionLost if the session died (the message was not accepted)."""
        if self.smtp is None:
            self.open()
        assert self.smtp is not None
        if self.smtp.has_extn("pipelining") and not envelope.utf8:
            return self._pipelined(envelope)
        options = ["SMTPUTF8"] if envelope.utf8 else []
        try:
            refused = self.smtp.sendmail(envelope.sender, [envelope.recipient], envelope.data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(envelope.recipient, (550, b"recipient refused"))
            return _classify(code, text)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return _classify(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            raise ConnectionLost(str(exc) or "server disconnected") from None
        except smtplib.SMTPResponseException as exc:
            return _classify(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise ConnectionLost(str(exc)) from None
        if refused:
            code, text = refused[envelope.recipient]
            return _classify(code, text)
        return Reply("sent", 250, "OK")

    def _pipelined(self, envelope: Envelope) -> Reply:
        """MAIL, RCPT and DATA in one write (RFC 2920), then the message: two round trips
        instead of four, and no dot-stuffing pass over messages that need none."""
        smtp = self.smtp
        assert smtp is not None
        data = envelope.data
        if data.startswith(b".") or b"\n." in data:
            data = _DOT_LINE.sub(b"..", data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        commands = b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (
            envelope.sender.encode("ascii"),
            envelope.recipient.encode("ascii"),
        )
        try:
            smtp.send(commands)
            mail, rcpt, start = smtp.getreply(), smtp.getreply(), smtp.getreply()
            if start[0] != 354 or mail[0] != 250 or rcpt[0] not in (250, 251):
                if start[0] == 354:  # an odd server took DATA anyway: end it empty
                    smtp.send(b".\r\n")
                    smtp.getreply()
                smtp.rset()
                failed = next(r for r in (mail, rcpt, start) if r[0] not in (250, 251, 354))
                return _classify(*failed)
            smtp.send(data + b".\r\n")
            code, text = smtp.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            raise ConnectionLost(str(exc) or "server disconnected") from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise ConnectionLost(str(exc)) from None
        return _classify(code, text)

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                with contextlib.suppress(OSError):
                    self.smtp.close()
            self.smtp = None


def send_one(settings: SmtpSettings, envelope: Envelope) -> Reply:
    """One message over its own connection (test copies, confirmation links)."""
    conn = SmtpConnection(settings)
    try:
        return conn.send(envelope)
    finally:
        conn.close()


class SmtpConfigError(Exception):
    """Retrying won't help: bad credentials or TLS settings. Stops the send with a clear message."""


def _classify(code: int, text: bytes | str) -> Reply:
    if 200 <= code < 300:
        return Reply("sent", code, _text(text))
    return Reply("temporary" if 400 <= code < 500 or code < 200 else "permanent", code, _text(text))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RateLimiter:
    """A token bucket shared by all connections: at most `per_second` on average, small bursts."""

    def __init__(self, per_second: float | None):
        self.rate = per_second
        self.capacity = max(1.0, per_second or 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event | None = None) -> None:
        if self.rate is None:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                delay = (1 - self.tokens) / self.rate
            if stop is not None and stop.wait(delay):
                return
            if stop is None:
                time.sleep(delay)


def check_reachable(config: Config) -> None:
    """Fail fast, before claiming anything, when the relay can't be reached at all."""
    s = config.settings.smtp
    try:
        socket.create_connection((s.host, s.port), timeout=min(s.timeout, 10)).close()
    except OSError as exc:
        raise ConnectionLost(f"cannot connect to {s.host}:{s.port}: {exc.strerror or exc}") from None
