"""``htan-submit preflight`` as a user runs it: the installed script, a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
HTAN_SUBMIT = str(Path(sys.executable).with_name("htan-submit"))


@pytest.fixture
def centers_file(tmp_path, seeded_center) -> Path:
    center, _ = seeded_center
    path = tmp_path / "centers.yaml"
    path.write_text(yaml.safe_dump({"centers": {center.center_id: {
        "name": center.name, "synapse_project_id": center.synapse_project_id, "s3": {"bucket": "b"}}}}))
    return path


def _run(emulator, centers_file: Path, token: str | None, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SYNAPSE_AUTH_TOKEN"}
    env.update({"HTAN_CENTERS_FILE": str(centers_file), "HTAN_SYNAPSE_ENDPOINT": emulator.base_url})
    if token:
        env["SYNAPSE_AUTH_TOKEN"] = token
    return subprocess.run([HTAN_SUBMIT, "preflight", "--center", "HTA200", *extra], env=env,
                          capture_output=True, text=True, timeout=120)


def test_passing_preflight_exits_0_and_writes_json(emulator, centers_file, synapse_user, tmp_path):
    out = tmp_path / "report.json"
    result = _run(emulator, centers_file, synapse_user.token, "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    assert json.loads(out.read_text())["passed"] is True


def test_failing_preflight_exits_1_and_never_prints_the_token(emulator, centers_file, make_user):
    user = make_user(certified=False)
    result = _run(emulator, centers_file, user.token)
    assert result.returncode == 1
    assert "[FAIL] certified" in result.stdout
    assert user.token not in result.stdout + result.stderr


def test_missing_token_or_unknown_center_is_a_usage_error(emulator, centers_file, synapse_user):
    result = _run(emulator, centers_file, None)
    assert result.returncode == 2 and "SYNAPSE_AUTH_TOKEN" in result.stderr
    env_center = subprocess.run([HTAN_SUBMIT, "preflight", "--center", "HTA201"], capture_output=True, text=True,
                                env={**os.environ, "HTAN_CENTERS_FILE": str(centers_file),
                                     "SYNAPSE_AUTH_TOKEN": synapse_user.token}, timeout=60)
    assert env_center.returncode == 2 and "HTA201" in env_center.stderr
