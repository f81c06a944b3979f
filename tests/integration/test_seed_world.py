"""``python -m htan_submission.dev.demo_world``: what docker-compose's ``htan-seed`` service and
``make demo`` run to set up the DCC's side for a center, against a fresh emulator and S3."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from htan_submission.config import get_center
from htan_submission.dev.demo_batch import DEMO_COMPONENTS
from htan_submission.dev.moto_s3 import TEST_CREDENTIALS, running_moto
from htan_submission.synapse.client import SynapseTarget
from htan_submission.synapse.files import SynapseFiles
from synapse_emulator.launch import running_emulator

pytestmark = pytest.mark.integration


def test_seeding_twice_sets_up_a_center_whose_submitter_passes_preflight(tmp_path):
    center = get_center("HTA200")
    with running_moto() as moto, running_emulator(s3_endpoint_url=moto.endpoint_url) as emulator:
        env = {**os.environ, **TEST_CREDENTIALS}
        seed = [sys.executable, "-m", "htan_submission.dev.demo_world", "--synapse-url", emulator.base_url,
                "--s3-endpoint-url", moto.endpoint_url]
        for _ in range(2):  # idempotent: `docker compose up` runs it at every start
            done = subprocess.run(seed, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
        assert f"Seeded HTA200: project {center.synapse_project_id}" in done.stdout

        owner = moto.client().get_object(Bucket=center.s3.bucket, Key=f"{center.s3.prefix.strip('/')}/owner.txt")
        assert owner["Body"].read().decode().split() == ["demo_submitter"]  # the bucket is registered (index mode)
        for name in DEMO_COMPONENTS:
            schema = f"HTAN2Organization-{name}"
            assert httpx.get(f"{emulator.base_url}/repo/v1/schema/type/registered/{schema}").status_code == 200
        submitter = SynapseFiles.login(SynapseTarget(endpoint=emulator.base_url, token="demo-submitter-token"))
        ingest = submitter.child_id(center.synapse_project_id, center.ingest_folder_name)
        liaison = SynapseFiles.login(SynapseTarget(endpoint=emulator.base_url, token="demo_liaison-token"))
        assert liaison.rest.get(f"/entity/{ingest}/permissions")["canEdit"] is True  # may annotate the reports

        preflight = subprocess.run([str(os.path.join(os.path.dirname(sys.executable), "htan-submit")), "preflight",
                                    "--center", "HTA200"], capture_output=True, text=True, timeout=120,
                                   env={**env, "HTAN_SYNAPSE_ENDPOINT": emulator.base_url,
                                        "SYNAPSE_AUTH_TOKEN": "demo-submitter-token"})
        assert preflight.returncode == 0, preflight.stdout[-2000:]
