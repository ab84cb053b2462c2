"""Building each subscriber's copy: headers, MIME parts, injection safety and DKIM."""

from __future__ import annotations

import email
from email import policy

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from publisher.errors import ConfigError
from publisher.messages import PLACEHOLDER, DkimSigner, MessageFactory, require_sending_config
from publisher.models import Campaign
from publisher.subscriptions import Tokens
from tests.conftest import NEWSLETTER, SECRET

CAMPAIGN = Campaign(
    id=7,
    key="https://blog.example.com/posts/x/",
    kind="post",
    slugs=("x",),
    terms=("AI",),
    subject="標題 with <tags> & ümlauts",
    html=f'<p>Hello 世界</p><p><a href="{PLACEHOLDER}">Unsubscribe</a></p>',
    text=f"Hello 世界\n\nUnsubscribe: {PLACEHOLDER}\n",
)


@pytest.fixture
def config(make_site):
    return make_site(newsletter=NEWSLETTER)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


def test_copy_is_well_formed_and_personalized(config) -> None:
    tokens = Tokens(SECRET)
    factory = MessageFactory(CAMPAIGN, config, tokens)
    envelope = factory.build(42, "Reader@Example.com", "讀者 Name")
    assert envelope.sender == "news@blog.example.com" and envelope.recipient == "Reader@Example.com"
    assert b"\r\n" in envelope.data and b"\n" not in envelope.data.replace(b"\r\n", b"")  # CRLF only
    msg = parse(envelope.data)
    assert msg["Subject"] == CAMPAIGN.subject
    assert msg["To"].addresses[0].display_name == "讀者 Name"
    assert msg["Message-ID"].startswith("<7.42.")
    url = "https://blog.example.com/unsubscribe/" + tokens.unsubscribe(42)
    assert msg["List-Unsubscribe"].startswith(f"<{url}>")
    assert msg.get_body(("plain",)).get_content() == f"Hello 世界\n\nUnsubscribe: {url}\n"
    assert f'<a href="{url}">' in msg.get_body(("html",)).get_content()
    assert PLACEHOLDER.encode() not in envelope.data


def test_an_unsubscribe_url_without_its_slash_still_makes_working_links(make_site) -> None:
    config = make_site(newsletter={**NEWSLETTER, "unsubscribe_url": "https://blog.example.com/unsubscribe"})
    tokens = Tokens(SECRET)
    msg = parse(MessageFactory(CAMPAIGN, config, tokens).build(42, "a@example.com").data)
    assert msg["List-Unsubscribe"].startswith(f"<https://blog.example.com/unsubscribe/{tokens.unsubscribe(42)}>")


def test_a_very_long_name_keeps_every_header_line_within_smtps_limit(config) -> None:
    factory = MessageFactory(CAMPAIGN, config, Tokens(SECRET))
    data = factory.build(1, "a@example.com", "讀" * 400).data
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    to = parse(data)["To"]
    assert to.addresses[0].addr_spec == "a@example.com" and to.addresses[0].display_name.replace(" ", "") == "讀" * 400


def test_message_ids_are_unique(config) -> None:
    factory = MessageFactory(CAMPAIGN, config, Tokens(SECRET))
    ids = {parse(factory.build(1, "a@example.com").data)["Message-ID"] for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("Eve\r\nBcc: victim@example.com", "Hi"),
        ("Eve", "Hi\r\nBcc: victim@example.com"),
        ("Eve\nX-Injected: 1", "Hi\rX-Injected: 1"),
    ],
)
def test_nothing_from_a_post_or_subscriber_can_inject_a_header(config, name: str, subject: str) -> None:
    campaign = Campaign(**{**CAMPAIGN.__dict__, "subject": subject})
    data = MessageFactory(campaign, config, Tokens(SECRET)).build(1, "a@example.com", name).data
    msg = parse(data)
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Injected" not in head


def test_internationalized_domain_is_sent_in_ascii(config) -> None:
    envelope = MessageFactory(CAMPAIGN, config, Tokens(SECRET)).build(1, "user@bücher.de")
    assert envelope.recipient == "user@xn--bcher-kva.de" and not envelope.utf8


def _rsa_key(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem)
    return path, public


def test_dkim_signature_verifies_and_covers_the_unsubscribe_headers(config, tmp_path) -> None:
    import base64

    key_file, public = _rsa_key(tmp_path)
    signer = DkimSigner("sel1", "blog.example.com", key_file)
    data = MessageFactory(CAMPAIGN, config, Tokens(SECRET), signer).build(3, "a@example.com", "A").data
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"sel1._domainkey.blog.example.com."
        return record

    assert dkim.verify(data, dnsfunc=dns)
    signature = parse(data)["DKIM-Signature"]
    signed = {h.strip().lower() for h in signature.split("h=")[1].split(";")[0].replace("\r\n", "").split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject", "to"} <= signed
    tampered = data.replace(b"<https://blog.example.com/unsubscribe/", b"<https://evil.example.com/unsubscribe/")
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)
    body_start = data.index(b"\r\n\r\n") + 4
    flipped = data[:body_start] + data[body_start:].replace(b"This is a", b"This was a", 1)
    assert not dkim.verify(flipped, dnsfunc=dns)


def test_bad_dkim_key_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        DkimSigner("s", "example.com", tmp_path / "missing.pem")
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not a PEM private key"):
        DkimSigner("s", "example.com", tmp_path / "bad.pem")


def test_sending_needs_from_and_unsubscribe_url(make_site) -> None:
    with pytest.raises(ConfigError, match=r"newsletter\.from"):
        require_sending_config(make_site())
    with pytest.raises(ConfigError, match=r"newsletter\.unsubscribe_url"):
        require_sending_config(make_site(newsletter={"from": "A <a@example.com>"}))


def test_openssl_rsa_gives_exactly_dkimpys_signature(tmp_path) -> None:
    """The fast RSA path must be a pure speed-up: PKCS#1 v1.5 is deterministic."""
    import hashlib

    from dkim.crypto import parse_pem_private_key

    from publisher.messages import _install_openssl_rsa

    key_file, _ = _rsa_key(tmp_path)
    _install_openssl_rsa()
    assert dkim.RSASSA_PKCS1_v1_5_sign is not dkim._publisher_original_rsa_sign
    private = parse_pem_private_key(key_file.read_bytes())
    for payload in (b"", b"header hash", "標題".encode()):
        digest = hashlib.sha256(payload)
        fast = dkim.RSASSA_PKCS1_v1_5_sign(digest.copy(), private)
        slow = dkim._publisher_original_rsa_sign(digest.copy(), private)
        assert fast == slow and len(fast) == 256


@pytest.mark.parametrize("before", [0, 1, 2, 56, 57, 58, 114, 1000, 5701])
def test_precomputed_base64_equals_encoding_the_whole_body(before: int) -> None:
    """The once-per-campaign prefix plus a per-copy tail is exactly base64 of the whole body."""
    import base64

    from publisher.messages import _Base64Part

    body = "字" * (before // 3) + "x" * (before % 3) + PLACEHOLDER + " footer 頁尾 " + PLACEHOLDER
    url = "https://blog.example.com/unsubscribe/42.signature-Ab_9"
    part = _Base64Part("text/plain", body).render(url)
    encoded = part.split(b"\r\n\r\n", 1)[1]
    expected = base64.encodebytes(body.replace(PLACEHOLDER, url).encode()).replace(b"\n", b"\r\n")
    assert encoded == expected
