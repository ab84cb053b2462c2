"""SMTP sessions over STARTTLS and implicit TLS with AUTH, against aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from publisher.config import SmtpSettings
from publisher.messages import Envelope
from publisher.transport import RateLimiter, SmtpConfigError, SmtpConnection
from tests.conftest import SmtpRecorder, free_port

USER, PASSWORD = "mailer", "s3cret-pass"


@pytest.fixture
def tls_files(tmp_path, monkeypatch):
    """A self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE like a real CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    return cert_file, key_file


def _server_context(tls_files) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


ENVELOPE = Envelope("news@example.com", "reader@example.com", b"Subject: hi\r\n\r\nbody\r\n")


def test_starttls_with_auth_delivers(tls_files) -> None:
    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=_server_context(tls_files),
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls", username=USER, timeout=5)
        conn = SmtpConnection(settings, password=PASSWORD)
        assert conn.send(ENVELOPE).outcome == "sent"
        assert conn.send(ENVELOPE).outcome == "sent"  # the same session, reused
        conn.close()
        assert recorder.recipients() == ["reader@example.com", "reader@example.com"]
        wrong = SmtpConnection(settings, password="nope")
        with pytest.raises(SmtpConfigError, match="login as 'mailer' refused") as info:
            wrong.send(ENVELOPE)
        assert "nope" not in str(info.value)
    finally:
        controller.stop()


def test_implicit_tls_delivers(tls_files) -> None:
    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ssl_context=_server_context(tls_files))
    controller.start()
    try:
        conn = SmtpConnection(SmtpSettings(host="127.0.0.1", port=port, security="tls", timeout=5))
        assert conn.send(ENVELOPE).outcome == "sent"
        conn.close()
        assert recorder.recipients() == ["reader@example.com"]
    finally:
        controller.stop()


def test_untrusted_certificate_is_refused(tls_files, monkeypatch) -> None:
    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ssl_context=_server_context(tls_files))
    controller.start()
    monkeypatch.delenv("SSL_CERT_FILE")
    try:
        conn = SmtpConnection(SmtpSettings(host="127.0.0.1", port=port, security="tls", timeout=5))
        with pytest.raises(SmtpConfigError, match="TLS failed"):
            conn.send(ENVELOPE)
        assert recorder.messages == []
    finally:
        controller.stop()


def test_rate_limit_spaces_messages_out() -> None:
    limiter = RateLimiter(20.0)  # a burst of 20, then 20 a second
    started = time.monotonic()
    for _ in range(40):
        limiter.wait()
    assert time.monotonic() - started >= 0.9


def test_no_rate_limit_never_waits() -> None:
    limiter = RateLimiter(None)
    started = time.monotonic()
    for _ in range(10000):
        limiter.wait()
    assert time.monotonic() - started < 1.0
