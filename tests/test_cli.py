"""The `publisher` command as an operator runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from publisher.cli import cli
from publisher.config import documented_keys
from tests.conftest import BASE_CONFIG, free_port, post_text, write_config

ROOT = Path(__file__).parent.parent


def run(config, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config.path), *args], catch_exceptions=False)


def test_build_reports_summary(make_site) -> None:
    config = make_site(data=["posts/2026-01-05-groq-nvidia-prefill-decode.md"])
    result = run(config, "build")
    assert result.exit_code == 0, result.output
    assert "1 published, 0 drafts, 0 scheduled, 0 expired, 0 unlisted, 0 rejected" in result.output
    assert (config.output_dir / "index.xml").is_file()


def test_build_with_a_rejected_post_exits_1_but_writes_the_rest(make_site) -> None:
    config = make_site({"posts/good.md": post_text(title="Good"), "posts/bad.md": "---\ntitle: Bad\n---\nno date\n"})
    result = run(config, "build")
    assert result.exit_code == 1
    assert "posts/bad.md:1: front matter has no 'date'" in result.output
    assert "1 published" in result.output and "1 rejected" in result.output
    assert "<title>Good</title>" in (config.output_dir / "index.xml").read_text()


def test_check_lists_scheduled_posts_and_writes_nothing(make_site) -> None:
    config = make_site(
        {
            "posts/a.md": post_text(title="A", date="2026-01-01"),
            "posts/d.md": post_text(title="D", draft=True),
            "posts/later.md": post_text(title="Later", date="2099-05-01T08:00:00+08:00"),
        }
    )
    result = run(config, "check")
    assert result.exit_code == 0, result.output
    assert "1 published, 1 drafts, 1 scheduled, 0 expired, 0 unlisted, 0 rejected" in result.output
    later = config.content_dir / "posts/later.md"  # shown as problems are: from the current folder
    assert f"scheduled: {later} at 2099-05-01T08:00:00+08:00" in result.output
    assert not config.output_dir.exists()


def test_rejected_counts_files_not_problems(make_site) -> None:
    config = make_site({"posts/good.md": post_text(title="Good"), "posts/bad.md": "---\ndraft: false\n---\n"})
    result = run(config, "check")
    assert result.exit_code == 1
    assert "no 'title'" in result.output and "no 'date'" in result.output
    assert "1 published, 0 drafts, 0 scheduled, 0 expired, 0 unlisted, 1 rejected" in result.output


def test_check_exits_1_on_rejection(make_site) -> None:
    config = make_site({"posts/bad.md": b"\xff\xfe not utf-8"})
    result = run(config, "check")
    assert result.exit_code == 1
    assert "bad.md:1: not valid UTF-8" in result.output


def test_missing_config_is_a_clear_error(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(tmp_path / "nope.toml"), "build"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: {tmp_path / 'nope.toml'}: config file not found"


def test_bad_config_value_names_the_key(make_site) -> None:
    config = make_site({"posts/a.md": post_text()})
    config.path.write_text(config.path.read_text() + "feed_length = 'many'\n")
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(config.path), "check"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "'feed_length' must be an integer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "blocker", "expected"),
    [
        ("output_dir", "out", "a file is in the way"),  # output_dir itself is a file
        ("output_dir", "out/tags", "Not a directory"),  # a term feed's folder cannot be made
        ("cache_dir", "cache", "a file is in the way"),
        ("cache_dir", "cache/build.sqlite", "Is a directory"),  # a folder where the database goes
    ],
)
def test_a_folder_that_cannot_be_written_is_named_without_a_traceback(make_site, key, blocker, expected) -> None:
    config = make_site({"posts/a.md": post_text(tags=["t"])}, output_dir="out", cache_dir="cache")
    root = config.path.parent
    if blocker.endswith(".sqlite"):
        (root / blocker).mkdir(parents=True)
    else:
        (root / blocker).parent.mkdir(parents=True, exist_ok=True)
        (root / blocker).write_text("in the way\n")
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(config.path), "build"], capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    folder = root / key.removesuffix("_dir").replace("output", "out")
    assert result.stderr.startswith(f"Error: {key} {folder}: cannot write there: {expected}"), result.stderr
    assert result.stderr.rstrip().endswith(f"make it a writable folder or set {key}")


def test_readme_quick_start_builds_the_sample_site(tmp_path) -> None:
    """The sample site in the repository builds as `make run` does, from another folder."""
    site = tmp_path / "repo"
    shutil.copytree(ROOT / "content", site / "content")
    shutil.copy(ROOT / "publisher.toml", site / "publisher.toml")
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(site / "publisher.toml"), "build"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "2 published" in result.stdout
    feed = feedparser.parse((site / "public/index.xml").read_bytes())
    assert not feed.bozo and len(feed.entries) == 2


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key, help_text in documented_keys():
        assert f"| `{key}` |" in readme, key
        assert help_text


# -- the newsletter ------------------------------------------------------------------------
SAMPLE = "posts/2026-01-05-groq-nvidia-prefill-decode.md"
SLUG = "2026-01-05-groq-nvidia-prefill-decode"


def newsletter(newsletter_site, *emails: str):
    config = newsletter_site(data=[SAMPLE])
    if emails:
        assert run(config, "subscribers", "add", *emails).exit_code == 0
    return config


def test_send_without_a_terminal_needs_yes(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter(newsletter_site, "a@example.com")
    result = run(config, "send", "--backfill")
    assert result.exit_code == 2 and "--yes" in result.output
    assert server.messages == []


def test_send_reports_plan_and_summary(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter(newsletter_site, "a@example.com", "b@example.com")
    result = run(config, "send", "--backfill", "--yes")
    assert result.exit_code == 0, result.output
    assert "one email each for 1 post(s), to 2 confirmed subscriber(s)" in result.output
    assert "2 sent, 0 deferred, 0 failed" in result.output
    assert len(server.messages) == 2
    status = run(config, "status")
    assert "done" in status.output and "2/2 sent" in status.output
    again = run(config, "send", SLUG, "--yes")
    assert again.exit_code == 1 and "already mailed" in again.output


def test_send_explains_a_renamed_post_it_does_not_mail_again(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter(newsletter_site, "a@example.com")
    assert run(config, "send", "--backfill", "--yes").exit_code == 0
    (config.content_dir / SAMPLE).rename(config.content_dir / "posts/groq.md")
    result = run(config, "send", "--yes")
    assert result.exit_code == 0, result.output
    assert "posts/groq/ has the title and publish date of https://blog.example.com/posts/" in result.output
    assert "not mailed again" in result.output and "nothing to send" in result.output
    assert len(server.messages) == 1


def test_first_send_explains_skipped_archive(newsletter_site, smtp_server) -> None:
    config = newsletter(newsletter_site, "a@example.com")
    result = run(config, "send", "--yes")
    assert result.exit_code == 0
    assert "1 post(s) published before the mailing list existed are not mailed (use --backfill" in result.output
    assert "nothing to send" in result.output


def test_dry_run_sends_and_records_nothing(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter(newsletter_site, "a@example.com", "b@example.com")
    assert run(config, "subscribers", "add", "other@example.com", "--topic", "美國經濟").exit_code == 0
    result = run(config, "send", "--backfill", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would send 'Groq" in result.output and "to 2 subscriber(s)" in result.output
    assert server.messages == []
    assert "no campaigns yet" in run(config, "status").output


def test_test_copy_goes_to_one_address_and_marks_nothing(newsletter_site, smtp_server) -> None:
    server, _ = smtp_server
    config = newsletter(newsletter_site, "a@example.com")
    result = run(config, "send", SLUG, "--to", "me@example.com")
    assert result.exit_code == 0, result.output
    assert server.recipients() == ["me@example.com"]
    assert "no campaigns yet" in run(config, "status").output
    assert run(config, "send", "--backfill", "--yes").exit_code == 0
    assert sorted(server.recipients()) == ["a@example.com", "me@example.com"]


@pytest.mark.parametrize(
    ("smtp", "says"),
    [
        ({"username": "mailer"}, "the test copy was not sent: "),  # the test server offers no AUTH
        ({"port": "closed"}, "the test copy was not sent: "),
    ],
)
def test_a_test_copy_the_relay_cannot_take_is_one_line(newsletter_site, smtp_server, monkeypatch, smtp, says) -> None:
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "pw")
    if smtp.get("port") == "closed":
        smtp = {"port": free_port()}
    config = newsletter_site(data=[SAMPLE], smtp=smtp)
    result = run(config, "send", SLUG, "--to", "me@example.com")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: " + says) and result.output.count("\n") == 1, result.output


def test_preview_writes_eml_html_and_txt(newsletter_site, smtp_server, tmp_path) -> None:
    config = newsletter(newsletter_site)
    out = tmp_path / "preview"
    result = run(config, "preview", SLUG, "--out", str(out))
    assert result.exit_code == 0, result.output
    paths = result.output.split()
    assert [p.rsplit(".", 1)[1] for p in paths] == ["eml", "html", "txt"]
    assert "Groq" in (out / f"{SLUG}.html").read_text(encoding="utf-8")
    assert "取消訂閱" in (out / f"{SLUG}.txt").read_text(encoding="utf-8")
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in (out / f"{SLUG}.eml").read_bytes()
    typo = run(config, "preview", SLUG[:-1], "--out", str(out))
    assert typo.exit_code == 1 and f"matches no post; did you mean {SLUG!r}?" in typo.output
    assert f"did you mean {SLUG!r}?" in run(config, "send", SLUG[:-1], "--yes").output


def test_missing_secret_stops_send_before_anything(newsletter_site, smtp_server, monkeypatch) -> None:
    server, _ = smtp_server
    config = newsletter(newsletter_site, "a@example.com")
    monkeypatch.delenv("PUBLISHER_SECRET_KEY")
    result = run(config, "send", "--backfill", "--yes")
    assert result.exit_code == 2 and "PUBLISHER_SECRET_KEY is not set" in result.output
    assert server.messages == []


def test_secrets_never_appear_in_output(newsletter_site, smtp_server, monkeypatch) -> None:
    config = newsletter_site(data=[SAMPLE], smtp={"username": "mailer"})
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "hunter2-very-secret")
    assert run(config, "subscribers", "add", "a@example.com").exit_code == 0
    result = run(config, "send", "--backfill", "--yes")  # the test server offers no AUTH
    assert result.exit_code != 0
    assert "hunter2" not in result.output and "test-secret" not in result.output


def test_sigterm_unwinds_a_one_shot_command_like_ctrl_c(tmp_path) -> None:
    # `build` stopped by a service manager or `timeout`: `finally` blocks still run (a feed's
    # temporary file is removed, the cache transaction rolls back), and the exit code says why.
    marker = tmp_path / "cleaned"
    code = (
        "import os, signal, time\n"
        "from publisher.cli import _one_shot\n"
        "_one_shot()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(10)\n"
        "finally:\n"
        f"    open({str(marker)!r}, 'w').write('yes')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 143 and marker.read_text() == "yes"
    assert "Traceback" not in result.stderr


def test_each_language_of_a_hugo_site_builds_its_own_feeds_into_one_output_dir(make_site) -> None:
    # Two configs, as a multilingual blog runs them: en (the default) and zh-cn beside it.
    en = make_site(
        {
            "posts/hello.md": post_text(title="Hello", tags=["greeting"]),
            "posts/hello.zh-cn.md": post_text(title="你好", tags=["問候"]),
            "posts/only/index.zh-cn.md": post_text(title="只有中文", date="2026-01-11T09:00:00+08:00"),
        },
        languages=["en", "zh-cn"],
    )
    zh_path = write_config(
        en.root / "zh.toml", {**BASE_CONFIG, "languages": ["en", "zh-cn"], "content_language": "zh-cn"}
    )
    first = run(en, "build")
    assert first.exit_code == 0, first.output
    assert "1 published, 0 drafts, 0 scheduled, 0 expired, 0 unlisted, 0 rejected, 2 in other languages" in (
        first.output
    )
    zh = CliRunner().invoke(cli, ["--config", str(zh_path), "build"], catch_exceptions=False)
    assert zh.exit_code == 0, zh.output
    assert "2 published" in zh.output and "1 in other languages" in zh.output
    assert run(en, "build").exit_code == 0  # and leaves the zh-cn feeds alone

    out = en.output_dir
    english = feedparser.parse((out / "index.xml").read_bytes())
    assert [e.link for e in english.entries] == ["https://blog.example.com/posts/hello/"]
    chinese = feedparser.parse((out / "zh-cn/index.xml").read_bytes())
    assert not chinese.bozo
    assert [e.title for e in chinese.entries] == ["只有中文", "你好"]
    assert chinese.entries[1].link == "https://blog.example.com/zh-cn/posts/hello/"
    assert chinese.feed.link == "https://blog.example.com/zh-cn/"
    term = feedparser.parse((out / "zh-cn/tags/問候/index.xml").read_bytes())
    assert [e.title for e in term.entries] == ["你好"]
    assert any(
        link.href == "https://blog.example.com/zh-cn/tags/%E5%95%8F%E5%80%99/index.xml" for link in term.feed.links
    )
    assert not (out / "tags/問候").exists() and (out / "tags/greeting/index.xml").is_file()


def test_a_shortcode_without_a_template_is_a_warning_naming_its_line(make_site) -> None:
    # A theme's shortcode (here `notice`) loses its markup: the operator hears of it, the post stays.
    body = "Intro.\n\n{{< notice warning >}}\nMind the gap.\n{{< /notice >}}\n"
    config = make_site({"posts/a.md": post_text(title="A", body=body)})
    for command in ("check", "build"):
        result = run(config, command)
        assert result.exit_code == 0, result.output
        path = config.content_dir / "posts/a.md"
        assert f"{path}:8: warning: shortcode 'notice' has no template, so only its inner content was kept" in (
            result.output
        )
        assert "1 published" in result.output and "0 rejected" in result.output
    assert "Mind the gap." in (config.output_dir / "index.xml").read_text()
