"""``DEMO_AUTO_APPROVE=1 make demo``, unattended, as a user runs it: stand-ins started, demo center
seeded, batch uploaded, ``airflow standalone`` started, the run triggered and approved by the
liaison through the review DAG, the summary printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from htan_submission.dev.moto_s3 import free_port
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def test_the_unattended_demo_submits_the_demo_batch_end_to_end(tmp_path):
    env = {**os.environ, "DEMO_AUTO_APPROVE": "1", "HTAN_DEMO_DIR": str(tmp_path / "demo"),
           "DEMO_AIRFLOW_PORT": str(free_port())}
    for leaked in ("HTAN_CENTERS_FILE", "HTAN_REPORTS_DIR", "HTAN_SCHEMA_ORGANIZATION", "SYNAPSE_AUTH_TOKEN"):
        env.pop(leaked, None)  # the demo's own configuration, as on a fresh clone
    done = subprocess.run([sys.executable, "-m", "htan_submission.dev.demo"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1200)
    out = done.stdout
    seen = f"\n--- the demo's output (logs in {tmp_path / 'demo' / 'logs'}) ---\n{out[-3000:]}\n{done.stderr[-2000:]}"
    assert done.returncode == 0, f"demo failed ({done.returncode}){seen}"
    for expected in ("[FAIL]",  # the refused submitter's preflight, shown on purpose
                     "demo_liaison approved in the htan_liaison_review form (REST API): review run success",
                     ": success ===", "sign-off:    approved by demo_liaison via airflow",
                     ", 0 invalid"):
        assert expected in out, f"{expected!r} missing{seen}"
    transfer = re.search(r"transfer: +(.*) in 1 chunk", out)
    assert transfer, seen
    counts = {action: int(n) for n, action in re.findall(r"(\d+) (\w+)", transfer.group(1))}
    assert set(counts) <= {"created", "skipped"} and sum(counts.values()) == 5, seen  # a retried copy resumes
    assert re.search(r"RecordSets: .*Demographics syn\d+ \(\+\d+ rows\)", out), seen
    report = next((tmp_path / "demo" / "reports").glob("htan_submission__HTA200/*/report.html"))
    assert 'id="audit"' in report.read_text()
