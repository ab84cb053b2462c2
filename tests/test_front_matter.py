"""Front matter formats: where the metadata ends, what it holds, which line it starts on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from publisher.errors import PostError
from publisher.front_matter import split


@pytest.mark.parametrize(
    ("text", "fm_line"),
    [
        ('---\ntitle: "T"\ntags: [a, b]\n---\nBody\n', 1),
        ('+++\ntitle = "T"\ntags = ["a", "b"]\n+++\nBody\n', 1),
        ('{\n"title": "T",\n"tags": ["a", "b"]\n}\nBody\n', 1),
        ('\n\n---\ntitle: "T"\ntags: [a, b]\n---\nBody\n', 3),
    ],
    ids=["yaml", "toml", "json", "yaml-after-blank-lines"],
)
def test_each_format_splits_into_meta_and_body(text: str, fm_line: int) -> None:
    parsed = split(text, "p.md")
    assert parsed.meta == {"title": "T", "tags": ["a", "b"]}
    assert parsed.body.strip() == "Body"
    assert parsed.fm_line == fm_line  # line N (0-based) of the front matter text is file line fm_line + N


def test_quoted_yaml_stays_text_and_plain_yaml_is_typed() -> None:
    parsed = split('---\na: "2026-01-18"\nb: 2026-01-18\nc: "yes"\nd: yes\ne: "0755"\n---\n', "p.md")
    assert parsed.meta["a"] == "2026-01-18" and str(parsed.meta["b"]) == "2026-01-18"
    assert parsed.meta["c"] == "yes" and parsed.meta["d"] is True  # YAML 1.1, as Hugo 0.111 reads it
    assert parsed.meta["e"] == "0755"


def test_an_unclosed_block_names_the_line_it_opens_on() -> None:
    with pytest.raises(PostError) as caught:
        split("\n---\ntitle: T\n", "p.md")
    assert [str(p) for p in caught.value.problems] == [
        "p.md:2: front matter is never closed: add the closing delimiter line"
    ]


def test_planning_a_build_does_not_import_the_yaml_parser() -> None:
    # A rebuild that finds nothing new parses nothing: PyYAML stays out of that process.
    code = "import sys, publisher.cli, publisher.publishing; print('yaml' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_node_tags_match_the_safe_loaders(tmp_path) -> None:
    # _YamlLoader answers libyaml's tag questions itself (cached); on every kind of scalar,
    # quoted or plain, the values must be those of PyYAML's own C safe loader.
    import random

    import yaml

    from publisher.front_matter import _YamlLoader

    plain = [
        "yes",
        "No",
        "on",
        "OFF",
        "~",
        "null",
        "",
        "1_000",
        "0x1F",
        "0o17",
        "0755",
        "1:30",
        "1.5e3",
        ".inf",
        "-.NaN",
        "2026-01-18",
        "2026-01-18 09:30:00 +8",
        "2026-01-18T09:30:00Z",
        "<<",
        "=",
        "AI晶片",
        "v1.2",
    ]
    rng = random.Random(7)
    for _ in range(300):
        lines = []
        for i in range(rng.randint(1, 8)):
            value = rng.choice(plain)
            style = rng.choice(["plain", "double", "single", "flow"])
            if style == "double":
                value = f'"{value}"'
            elif style == "single":
                value = f"'{value}'"
            elif style == "flow":
                value = f"[{value or 'x'}, '{value}']"
            elif value in ("", "<<", "="):
                value = "x"
            lines.append(f"k{i}: {value}")
        text = "\n".join(lines)
        assert outcome(text, _YamlLoader) == outcome(text, yaml.CSafeLoader), text


def outcome(text: str, loader: type) -> object:
    import yaml

    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:  # e.g. a merge key in a list: both must refuse it
        return type(exc).__name__
