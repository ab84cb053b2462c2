"""publisher.toml: validation messages, defaults, and paths resolved against the config file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import BASE_CONFIG, write_config

from publisher.config import AuthorSettings, Settings, documented_keys, load_config
from publisher.errors import ConfigError


def config_error(tmp_path: Path, **settings: object) -> str:
    """The message load_config raises for BASE_CONFIG with `settings` (None removes a key)."""
    merged = {k: v for k, v in {**BASE_CONFIG, **settings}.items() if v is not None}
    path = write_config(tmp_path / "publisher.toml", merged)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(str(path))
    return message


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "site.toml"
    with pytest.raises(ConfigError, match="config file not found") as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_invalid_toml(tmp_path):
    path = tmp_path / "publisher.toml"
    path.write_text('title = "T"\nbase_url = \n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2"):
        load_config(path)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"feed_lenght": 5}, "unknown key 'feed_lenght'; did you mean 'feed_length'?"),
        ({"zzz": 1}, "unknown key 'zzz'"),
        ({"author": {"nmae": "A"}}, "unknown key 'author.nmae'; did you mean 'author.name'?"),
        ({"author": {"xxx": "A"}}, "unknown key 'author.xxx'"),
        ({"feed_length": "20"}, "'feed_length' must be an integer, not str '20'"),
        ({"feed_length": True}, "'feed_length' must be an integer"),
        ({"title": 3}, "'title' must be a string"),
        ({"author": "Me"}, "'author' must be a table ([author])"),
        ({"title": None}, "missing key 'title'"),
        ({"base_url": None}, "missing key 'base_url'"),
        ({"title": "  "}, "'title': must not be empty"),
        ({"timezone": "Mars/Olympus"}, "'timezone': unknown time zone 'Mars/Olympus'"),
        ({"base_url": "blog.example.com"}, "'base_url': 'blog.example.com' is not an absolute http(s) URL"),
        ({"base_url": "/blog/"}, "'base_url': '/blog/' is not an absolute"),
        ({"permalink": "/{section}/{name}/"}, "'permalink': unknown field {name}"),
        ({"permalink": "/:section/:name/"}, "'permalink': unknown Hugo token :name"),
        ({"permalinks": {"posts": "/:year/"}}, "'permalinks.posts': must contain {slug} (or Hugo's :slug"),
        ({"permalinks": {"posts": 3}}, "'permalinks.posts': must be a pattern string"),
        ({"permalinks": "/x/"}, "'permalinks' must be a table"),
        ({"permalink": "/{section}/{year}/"}, "'permalink': must contain {slug}"),
        ({"permalink": "/{section}}/{slug}/"}, "'permalink': '/{section}}/{slug}/' is not a valid pattern"),
        ({"feed_length": 0}, "'feed_length': must be at least 1"),
        ({"language": "english please"}, "'language'"),
        ({"templates_dir": "missing"}, "'templates_dir': folder"),
        ({"languages": ["en", "zh cn"]}, "'languages': 'zh cn' is not a Hugo language key such as en or zh-cn"),
        ({"languages": []}, "'languages': list each of the site's language keys once"),
        ({"languages": ["en", "EN"]}, "'languages': list each of the site's language keys once"),
        ({"main_sections": ["posts/2026"]}, "'main_sections': 'posts/2026' is not a section"),
        ({"content_language": "fr"}, "'content_language': 'fr' is not one of languages (en)"),
    ],
)
def test_bad_setting_is_named(tmp_path, settings, fragment):
    assert fragment in config_error(tmp_path, **settings)


def test_defaults(tmp_path):
    config = load_config(write_config(tmp_path / "publisher.toml", {"title": "T", "base_url": "https://x.example/"}))
    s = config.settings
    assert (s.content_dir, s.output_dir, s.feed_length, s.permalink) == ("content", "public", 20, "/{path}/{slug}/")
    assert (config.timezone.key, config.language, config.author) == ("UTC", "en", AuthorSettings("", ""))
    assert (config.content_dir, config.output_dir) == (tmp_path / "content", tmp_path / "public")


def test_paths_are_relative_to_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    write_config(site / "publisher.toml", {**BASE_CONFIG, "content_dir": "src/posts", "output_dir": "../out"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config("../site/publisher.toml")
    assert config.content_dir == site.resolve() / "src" / "posts"
    assert config.output_dir == tmp_path.resolve() / "out"
    assert config.root == site.resolve()


@pytest.mark.parametrize("base_url", ["https://blog.example.com", "https://blog.example.com/"])
def test_base_url_gets_a_trailing_slash(tmp_path, base_url):
    config = load_config(write_config(tmp_path / "publisher.toml", {**BASE_CONFIG, "base_url": base_url}))
    assert config.base_url == "https://blog.example.com/"


def test_author_table(tmp_path):
    settings = {**BASE_CONFIG, "author": {"name": "Ann", "email": "ann@example.com"}}
    config = load_config(write_config(tmp_path / "publisher.toml", settings))
    assert config.author == AuthorSettings("Ann", "ann@example.com")


def test_documented_keys_lists_every_key_with_help():
    keys = dict(documented_keys())
    tables = {"author", "smtp", "newsletter", "database", "daemon", "server"}
    top = {f.name for f in dataclasses.fields(Settings)} - tables
    assert top <= set(keys)
    assert {
        "author.name",
        "author.email",
        "smtp.host",
        "smtp.rate_limit",
        "newsletter.from",
        "newsletter.unsubscribe_url",
        "database.url",
    } <= set(keys)
    assert not tables & set(keys)  # tables are not settings themselves
    assert {"author." + f.name for f in dataclasses.fields(AuthorSettings)} <= set(keys)
    assert all(text.strip() for text in keys.values())


@pytest.mark.parametrize(
    ("permalinks", "message"),
    [
        ({"term": {"tags": "/t/:filename/:day/"}}, None),
        ({"term": {"tags": "/t/:slug.html"}}, "'permalinks.term.tags': a term's URL is a folder"),
        ({"tags": "/t/:slug.html"}, "'permalinks.tags': a term's URL is a folder"),
        ({"term": {"categories": "/c/:year/"}}, "'permalinks.term.categories': must contain {slug}"),
        ({"term": {"series": 3}}, None),  # a taxonomy without feeds here: ignored, as Hugo's table is copied whole
    ],
)
def test_term_permalinks_are_checked(tmp_path, permalinks, message) -> None:
    if message is None:
        config = load_config(write_config(tmp_path / "publisher.toml", {**BASE_CONFIG, "permalinks": permalinks}))
        assert set(config.term_permalinks) <= {"tags"}
    else:
        assert message in config_error(tmp_path, permalinks=permalinks)


@pytest.mark.parametrize("sender", ["Blog news@example.com", "Blog <news>", "a@example.com, b@example.com"])
def test_a_from_address_must_be_one_well_formed_address(tmp_path, sender) -> None:
    message = config_error(tmp_path, newsletter={"from": sender})
    assert "'newsletter.from'" in message and "is not one address such as 'Blog <news@example.com>'" in message


def test_every_bad_key_is_reported_with_its_line(tmp_path):
    path = tmp_path / "publisher.toml"
    path.write_text(
        'title = "T"\nbase_url = "https://example.com/"\nfeed_lenght = 3\n\n[smtp]\nhost = "h"\nhots = "x"\n'
        'port = "587"\n\n[server]\nport = 1\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).split("\n") == [
        f"{path}:3: unknown key 'feed_lenght'; did you mean 'feed_length'?",
        f"{path}:7: unknown key 'smtp.hots'; did you mean 'smtp.host'?",
        f"{path}:8: 'smtp.port' must be an integer, not str '587'",
    ]


@pytest.mark.parametrize(
    "sender", ["Dr. Who <news@example.com>", '"A, B" <a@example.com>', "部落格 <news@例子.台灣>", "<news@example.com>"]
)
def test_valid_from_addresses_are_accepted(tmp_path, sender) -> None:
    settings = {**BASE_CONFIG, "newsletter": {"from": sender}}
    assert load_config(write_config(tmp_path / "publisher.toml", settings)).settings.newsletter.sender == sender
