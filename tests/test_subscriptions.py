"""Who gets the newsletter: addresses, signed tokens, CSV import/export and the `subscribers` commands."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.cli import cli
from publisher.config import load_config
from publisher.errors import ConfigError
from publisher.store import STATUSES, Store
from publisher.subscriptions import (
    SubscriberError,
    Tokens,
    import_csv,
    normalize_email,
    secret_key,
    smtp_address,
)
from tests.conftest import BASE_CONFIG, SECRET, write_config

DATA = Path(__file__).parent / "data" / "subscribers"


@pytest.fixture
def store(tmp_path: Path):
    store = Store.open(f"sqlite:///{tmp_path / 'list.sqlite3'}")
    yield store
    store.close()


def run(config, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config.path), "subscribers", *args], catch_exceptions=False)


def open_store(config) -> Store:
    return Store.open(config.database_url)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def table(store: Store) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """email -> (status, name, topics) of every subscriber."""
    return {s.email: (s.status, s.name, s.topics) for s in store.iter_subscribers()}


def import_file(store: Store, path: Path):
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return import_csv(store, stream, str(path))


# -- addresses -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Foo@Example.COM", "foo@example.com"),
        ("  reader@example.com \n", "reader@example.com"),
        ("user@bücher.de", "user@bücher.de"),
        ("User@BÜCHER.de", "user@bücher.de"),
    ],
)
def test_normalize_email_is_case_insensitive_and_accepts_idn(given: str, expected: str) -> None:
    assert normalize_email(given) == expected


@pytest.mark.parametrize(
    ("address", "ascii_form"),
    [
        ("user@bücher.de", "user@xn--bcher-kva.de"),
        # IDNA 2008: ß is a letter of its own (IDNA 2003 would turn faß.de into fass.de, another domain).
        ("x@faß.de", "x@xn--fa-hia.de"),
        ("reader@example.com", "reader@example.com"),
    ],
)
def test_smtp_address_gives_the_punycode_domain(address: str, ascii_form: str) -> None:
    assert smtp_address(normalize_email(address)) == ascii_form


@pytest.mark.parametrize(
    "address",
    ["no-at-sign.example.com", "two words@example.com", "double..dot@example.com", "user@example..com", ""],
)
def test_invalid_address_raises_naming_it(address: str) -> None:
    with pytest.raises(SubscriberError, match=re.escape(repr(address))):
        normalize_email(address)


# -- tokens --------------------------------------------------------------------------------
def test_unsubscribe_token_round_trips_to_the_id() -> None:
    tokens = Tokens(SECRET)
    assert tokens.unsubscribe_id(tokens.unsubscribe(42)) == 42


def test_unsubscribe_token_with_any_character_changed_is_rejected() -> None:
    tokens = Tokens(SECRET)
    token = tokens.unsubscribe(42)
    # Every position but the last, whose low bits are base64 padding and may decode the same.
    for i in range(len(token) - 1):
        tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        assert tokens.unsubscribe_id(tampered) is None, tampered


def test_token_signed_with_another_secret_is_rejected() -> None:
    forged = Tokens("another-secret-0123456789abcdef").unsubscribe(42)
    assert Tokens(SECRET).unsubscribe_id(forged) is None


def test_confirm_and_unsubscribe_tokens_are_not_interchangeable() -> None:
    tokens = Tokens(SECRET)
    assert tokens.unsubscribe_id(tokens.confirm(42)) is None
    assert tokens.confirm_id(tokens.unsubscribe(42), max_age=3600) is None


def test_token_cannot_be_turned_into_another_subscribers() -> None:
    tokens = Tokens(SECRET)
    mine, theirs = tokens.unsubscribe(1), tokens.unsubscribe(2)
    payload_2, _, _ = theirs.partition(".")
    _, _, signature_1 = mine.partition(".")
    assert tokens.unsubscribe_id(f"{payload_2}.{signature_1}") is None
    assert tokens.unsubscribe_id(mine) == 1


def test_confirm_token_round_trips_within_its_max_age() -> None:
    tokens = Tokens(SECRET)
    assert tokens.confirm_id(tokens.confirm(7), max_age=3600) == 7


def test_confirm_token_expires() -> None:
    tokens = Tokens(SECRET)
    token = tokens.confirm(7)
    time.sleep(1.1)  # itsdangerous timestamps are whole seconds: the age is now at least 1
    assert tokens.confirm_id(token, max_age=0) is None


def test_secret_key_unset_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("PUBLISHER_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY is not set"):
        secret_key()


def test_secret_key_too_short_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY is too short"):
        secret_key()


def test_secret_key_is_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", SECRET)
    assert secret_key() == SECRET


# -- CSV import ----------------------------------------------------------------------------
def test_import_skips_bad_rows_reporting_file_and_line(store) -> None:
    path = DATA / "mixed.csv"
    report = import_file(store, path)
    assert len(report.problems) == 2
    assert report.problems[0].startswith(f"{path}:3: 'not-an-address'")
    assert report.problems[1].startswith(f"{path}:6: 'dan@@example.com'")
    assert set(table(store)) == {"alice@example.com", "carol@example.com"}


def test_import_merges_duplicates_within_the_file(store) -> None:
    report = import_file(store, DATA / "mixed.csv")
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    # Line 7 repeats alice (in capitals): one subscriber, the name kept, the topics merged.
    assert table(store)["alice@example.com"] == ("confirmed", "Alice", ("python", "AI", "ml"))
    assert table(store)["carol@example.com"] == ("confirmed", "Carol", ("rust",))


def test_import_without_header_row(store) -> None:
    report = import_file(store, DATA / "no_header.csv")
    assert report.problems == []
    assert table(store) == {
        "dave@example.com": ("confirmed", "Dave", ("go",)),
        "erin@example.com": ("confirmed", "", ()),
    }


def test_import_header_columns_in_any_order(store, tmp_path) -> None:
    path = write_csv(tmp_path / "reordered.csv", "Topics,Name,Email\ncooking;travel,Frank,frank@example.com\n")
    assert import_file(store, path).problems == []
    assert table(store) == {"frank@example.com": ("confirmed", "Frank", ("cooking", "travel"))}


@pytest.mark.parametrize("status", ["unsubscribed", "bounced"])
def test_import_never_resubscribes_an_address_that_left(store, tmp_path, status: str) -> None:
    store.add_subscribers([{"email": "gone@example.com", "name": "Gone", "status": "confirmed"}], resubscribe=False)
    store.set_status("gone@example.com", status)
    import_file(store, write_csv(tmp_path / "list.csv", "email,name\nGONE@example.com,Gone\n"))
    assert store.subscriber("gone@example.com").status == status


def test_import_with_an_unknown_status_rejects_the_row(store, tmp_path) -> None:
    path = write_csv(tmp_path / "list.csv", "email,status\nok@example.com,confirmed\nodd@example.com,subscribed\n")
    report = import_file(store, path)
    assert report.problems == [f"{path}:3: unknown status 'subscribed' (one of {', '.join(STATUSES)})"]
    assert set(table(store)) == {"ok@example.com"}


def test_import_of_100000_rows(make_site, tmp_path) -> None:
    config = make_site()
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("email,name,topics\n")
        f.writelines(f"reader{i}@example.com,Reader {i},python;ai\n" for i in range(100_000))
    started = time.perf_counter()
    result = run(config, "import", str(path))
    elapsed = time.perf_counter() - started
    print(f"imported 100,000 rows in {elapsed:.1f}s")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "100000 added, 0 updated, 0 unchanged, 0 rejected"
    store = Store.open(config.database_url)
    assert store.count_subscribers()["confirmed"] == 100_000
    store.close()


# -- the `subscribers` commands ------------------------------------------------------------
def test_cli_import_reports_bad_rows_and_exits_1(make_site) -> None:
    config = make_site()
    path = DATA / "mixed.csv"
    result = run(config, "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(f"{path}:3: 'not-an-address'")
    assert result.stderr.splitlines()[1].startswith(f"{path}:6: 'dan@@example.com'")
    assert result.stdout.strip() == "2 added, 0 updated, 0 unchanged, 2 rejected"


def test_cli_import_of_a_clean_file_exits_0(make_site) -> None:
    config = make_site()
    result = run(config, "import", str(DATA / "no_header.csv"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 added, 0 updated, 0 unchanged, 0 rejected"


def test_cli_import_reads_a_utf8_bom_file_with_cjk_names(make_site) -> None:
    config = make_site()
    result = run(config, "import", str(DATA / "bom.csv"))
    assert result.exit_code == 0, result.output  # the BOM did not hide the header row
    assert table(open_store(config)) == {
        "zhang@example.tw": ("confirmed", "張三", ("科技", "AI")),
        "yamada@example.jp": ("confirmed", "山田太郎", ()),
    }


def test_cli_import_reads_excels_utf16_and_names_the_line_of_a_legacy_encoding(make_site, tmp_path) -> None:
    config = make_site()
    utf16 = tmp_path / "unicode.csv"
    utf16.write_bytes("email\tname\r\nzhang@example.tw\t張三\r\n".encode("utf-16"))  # tabs, a BOM: "Unicode text"
    result = run(config, "import", str(utf16))
    assert result.exit_code == 0, result.output
    assert table(open_store(config))["zhang@example.tw"][1] == "張三"
    big5 = tmp_path / "big5.csv"
    big5.write_bytes("email,name\nchen@example.tw,陳大文\n".encode("big5"))
    result = run(config, "import", str(big5))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {big5}:2: not UTF-8 (byte 0x")
    assert "save the file as CSV UTF-8" in result.stderr and "Traceback" not in result.output
    assert "chen@example.tw" not in table(open_store(config))


def test_cli_import_does_not_resubscribe_but_add_does(make_site, tmp_path) -> None:
    config = make_site()
    assert run(config, "add", "left@example.com").exit_code == 0
    assert run(config, "remove", "left@example.com").exit_code == 0
    path = write_csv(tmp_path / "list.csv", "left@example.com,Left,news\n")
    assert run(config, "import", str(path)).exit_code == 0
    assert open_store(config).subscriber("left@example.com").status == "unsubscribed"
    # The operator vouches for the address: `add` brings it back.
    assert run(config, "add", "Left@Example.com").exit_code == 0
    assert open_store(config).subscriber("left@example.com").status == "confirmed"


def test_export_then_import_round_trips(make_site, tmp_path) -> None:
    source = make_site()
    store = open_store(source)
    store.add_subscribers(
        [
            {"email": "ann@example.com", "name": "Ann, Jr.", "status": "confirmed", "topics": ("python", "AI")},
            {"email": "lin@example.tw", "name": "林小明", "status": "confirmed", "topics": ("科技",)},
            {"email": "quote@example.com", "name": 'Say "hi"', "status": "confirmed"},
            {"email": "user@bücher.de", "name": "Müller", "status": "confirmed"},
            {"email": "maybe@example.com", "name": "", "status": "pending"},
        ],
        resubscribe=False,
    )
    store.add_subscribers([{"email": "left@example.com", "name": "Left", "status": "confirmed"}], resubscribe=False)
    store.set_status("left@example.com", "unsubscribed")
    exported = run(source, "export")
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "export.csv"
    path.write_text(exported.stdout, encoding="utf-8")

    # Into a new database, as when moving the list to another server.
    other = load_config(
        write_config(tmp_path / "other.toml", {**BASE_CONFIG, "database": {"url": f"sqlite:///{tmp_path / 'new.db'}"}})
    )
    imported = run(other, "import", str(path))
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.strip() == "6 added, 0 updated, 0 unchanged, 0 rejected"
    # Same addresses, names and topics; and nobody who left or never confirmed is now confirmed.
    assert table(open_store(other)) == table(store)


def test_cli_add_reports_an_invalid_address_and_adds_the_others(make_site) -> None:
    config = make_site()
    result = run(config, "add", "one@example.com", "not an address", "Two@Example.com")
    assert result.exit_code == 1
    assert "'not an address'" in result.stderr
    assert result.stdout.strip() == "2 added, 0 updated, 0 unchanged, 1 rejected"
    assert set(table(open_store(config))) == {"one@example.com", "two@example.com"}


def test_cli_add_with_name_and_topics(make_site) -> None:
    config = make_site()
    result = run(config, "add", "one@example.com", "--name", "One", "--topic", "Python", "--topic", "AI")
    assert result.exit_code == 0, result.output
    assert table(open_store(config)) == {"one@example.com": ("confirmed", "One", ("Python", "AI"))}


def test_cli_remove_unsubscribes(make_site) -> None:
    config = make_site()
    run(config, "add", "one@example.com")
    result = run(config, "remove", "ONE@example.com")
    assert result.exit_code == 0, result.output
    assert open_store(config).subscriber("one@example.com").status == "unsubscribed"


def test_cli_remove_of_an_unknown_address_is_an_error(make_site) -> None:
    config = make_site()
    run(config, "add", "one@example.com")
    result = run(config, "remove", "nobody@example.com")
    assert result.exit_code != 0
    assert result.stderr.strip() == "Error: nobody@example.com: no such subscriber"
    assert open_store(config).subscriber("one@example.com").status == "confirmed"


def test_cli_count_and_list(make_site) -> None:
    config = make_site()
    run(config, "add", "b@example.com", "--name", "Bea", "--topic", "python", "--topic", "ai")
    run(config, "add", "a@example.com")
    run(config, "add", "c@example.com")
    run(config, "remove", "c@example.com")
    count = run(config, "count")
    assert count.exit_code == 0, count.output
    assert count.stdout.strip() == "0 pending, 2 confirmed, 1 unsubscribed, 0 bounced, 0 complained; 3 in all"
    listed = run(config, "list", "--status", "confirmed")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == ["b@example.com\tconfirmed\tBea\tpython;ai", "a@example.com\tconfirmed\t\t"]
