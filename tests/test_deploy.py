"""deploy/: the systemd unit passes `systemd-analyze verify` and is hardened."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).parent.parent / "deploy"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(DEPLOY / "publisher.service")
    return parser


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_unit_verifies(tmp_path) -> None:
    """systemd checks the executable exists, so verify a copy pointing at this checkout's."""
    text = (DEPLOY / "publisher.service").read_text()
    here = str(Path(sys.executable).parent / "publisher")
    copy = tmp_path / "publisher.service"
    copy.write_text(text.replace("/opt/publisher/.venv/bin/publisher", here))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "publisher.service" not in result.stderr  # no warnings about our unit


def test_unit_runs_hardened_as_a_service_user() -> None:
    service = unit()["Service"]
    assert service["User"] == "publisher" and service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/publisher/env"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key
    assert "run" in service["ExecStart"].split()


def test_env_example_holds_no_real_secret() -> None:
    env = (DEPLOY / "env.example").read_text()
    assert "PUBLISHER_SECRET_KEY=change-me" in env and "PUBLISHER_SMTP_PASSWORD=\n" in env
