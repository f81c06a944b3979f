"""``make demo``: a whole submission of the demo center against local stand-ins.

Starts moto S3 and the Synapse emulator on loopback, seeds what the DCC would have set up for
the demo center HTA200 (project, v1_ingest tree, a certified submitter with access), then runs
the submission's steps for real on the built-in demo batch: the CLI (preflight, validate on a
copy with planted mistakes, scan-images on the slide with planted header PHI), then the Airflow
DAG ``htan_submission__HTA200`` with ``airflow dags test`` on SQLite over the batch uploaded to
S3 (preflight -> validate -> scrub). Later steps join as they are built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from htan_submission.config import get_center
from htan_submission.dev.demo_batch import build_demo_batch, upload_batch
from htan_submission.dev.demo_world import register_schemas, seed_center
from htan_submission.dev.moto_s3 import running_moto
from synapse_emulator.launch import running_emulator

REPO = Path(__file__).resolve().parents[3]
DEMO_DIR = REPO / ".demo"
CENTER_ID = "HTA200"
SUBMITTER = ("demo_submitter", "demo-submitter-token")
UNCERTIFIED = ("demo_newcomer", "demo-newcomer-token")


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def main() -> int:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    (DEMO_DIR / "logs").mkdir(parents=True)
    center = get_center(CENTER_ID)
    with running_moto(log_file=str(DEMO_DIR / "logs" / "moto.log"), buckets=[center.s3.bucket]) as moto, \
            running_emulator(state=str(DEMO_DIR / "synapse.db"), s3_endpoint_url=moto.endpoint_url,
                             log_file=str(DEMO_DIR / "logs" / "emulator.log")) as emulator:
        _banner(f"Local stand-ins: S3 (moto) {moto.endpoint_url}, Synapse (emulator) {emulator.base_url}")
        emulator.admin.add_user(*SUBMITTER)
        emulator.admin.add_user(*UNCERTIFIED, certified=False, two_factor=False)
        for liaison in center.liaisons:
            emulator.admin.add_user(liaison, f"{liaison}-token")
        seeded = seed_center(emulator.admin, center, submitter=SUBMITTER[0])
        emulator.admin.grant(seeded.ingest_folder_id, UNCERTIFIED[0], "edit")
        print(f"Seeded {center.center_id}: project {seeded.project_id}, {center.ingest_folder_name} "
              f"{seeded.ingest_folder_id} ({len(seeded.folders)} folders)")

        env = {**os.environ, "HTAN_SYNAPSE_ENDPOINT": emulator.base_url}
        _banner(f"htan-submit preflight --center {CENTER_ID}   (as {UNCERTIFIED[0]}: what a refused submitter sees)")
        refused = subprocess.run([_bin("htan-submit"), "preflight", "--center", CENTER_ID],
                                 env={**env, "SYNAPSE_AUTH_TOKEN": UNCERTIFIED[1]})
        print(f"(exit {refused.returncode})")
        _banner(f"htan-submit preflight --center {CENTER_ID}   (as {SUBMITTER[0]})")
        passed = subprocess.run([_bin("htan-submit"), "preflight", "--center", CENTER_ID],
                                env={**env, "SYNAPSE_AUTH_TOKEN": SUBMITTER[1]})
        if passed.returncode != 0:
            print("demo: the demo submitter's preflight should pass", file=sys.stderr)
            return 1

        _dcc_setup(emulator, moto, center, seeded)
        faulty = build_demo_batch(DEMO_DIR / "batch-with-mistakes", faults=True)
        _banner("htan-submit validate .demo/batch-with-mistakes   (a batch with typical mistakes)")
        subprocess.run([_bin("htan-submit"), "validate", str(faulty), "--html", str(DEMO_DIR / "validation.html")],
                       env=env)
        print(f"(HTML report: {(DEMO_DIR / 'validation.html').relative_to(REPO)})")
        batch_dir = build_demo_batch(DEMO_DIR / "batch")
        _banner("htan-submit scan-images .demo/batch/pathology   (planted PHI in the slide's header)")
        subprocess.run([_bin("htan-submit"), "scan-images", str(batch_dir / "pathology")], env=env)
        batch = upload_batch(moto.client(), batch_dir, center.s3.bucket, f"{center.s3.prefix}demo-batch-1")
        print(f"Uploaded the clean demo batch to {batch}")

        _banner(f"Airflow: airflow dags test htan_submission__{CENTER_ID} --conf batch={batch}")
        liaison = center.liaisons[0]
        approver = threading.Thread(target=_approve_as_liaison, daemon=True,
                                    args=(emulator.base_url, f"{liaison}-token", seeded.ingest_folder_id))
        approver.start()
        return _run_dag(emulator.base_url, moto, batch)


def _dcc_setup(emulator, moto, center, seeded) -> None:
    """The DCC's one-time set-up: schemas registered, the center's bucket registered as an external
    storage location (index mode), the liaison allowed to annotate the report."""
    from htan_submission.dev.demo_batch import DEMO_COMPONENTS
    from htan_submission.synapse.client import SynapseTarget
    from htan_submission.synapse.files import SynapseFiles
    from htan_submission.transfer import register_storage

    register_schemas(emulator.base_url, list(DEMO_COMPONENTS))
    files = SynapseFiles.login(SynapseTarget(endpoint=emulator.base_url, token=SUBMITTER[1]))
    register_storage(center, files, moto.client())
    for liaison in center.liaisons:
        emulator.admin.grant(seeded.ingest_folder_id, liaison, "edit")
    print(f"DCC set-up: {len(DEMO_COMPONENTS)} schemas registered, s3://{center.s3.bucket}/{center.s3.prefix} "
          "registered as a Synapse storage location, liaison may annotate reports")


def _approve_as_liaison(endpoint: str, token: str, ingest_folder_id: str, deadline_s: float = 900) -> None:
    """The liaison's part, played by the demo: once the run's report is in Synapse, set
    ``liaison_decision: approved`` on it (the Synapse route of the sign-off)."""
    import time

    from htan_submission.synapse.client import SynapseTarget
    from htan_submission.synapse.files import SynapseFiles
    from htan_submission.synapse.records import get_annotations, put_annotations

    files = SynapseFiles.login(SynapseTarget(endpoint=endpoint, token=token))
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        reports = files.child_id(ingest_folder_id, "_reports")
        found = files.list_children(reports) if reports else []
        if found:
            current = get_annotations(files, found[0]["id"])
            put_annotations(files, found[0]["id"], current["etag"], {
                "liaison_decision": {"type": "STRING", "value": ["approved"]},
                "liaison_comment": {"type": "STRING", "value": ["Looks good: approved for release (demo)"]}})
            who = token.removesuffix('-token')
            print(f"\n[demo] {who} approved the report {found[0]['id']} in Synapse", flush=True)
            return
        time.sleep(2)  # a person reading the report; not synchronisation



def _run_dag(synapse_endpoint: str, moto, batch: str) -> int:
    home = DEMO_DIR / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW_CONN_SYNAPSE_DEFAULT": json.dumps(
            {"conn_type": "synapse", "host": synapse_endpoint, "password": SUBMITTER[1]}),
        "AIRFLOW_CONN_AWS_DEFAULT": moto.airflow_conn_uri(),
        "HTAN_REPORTS_DIR": str(DEMO_DIR / "reports"),
        "AIRFLOW_CONN_HTAN_SIGNOFF": json.dumps({"conn_type": "generic", "password": "demo-signing-key"}),
    }
    migrate = subprocess.run([_bin("airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        print(migrate.stderr[-4000:], file=sys.stderr)
        return 1
    log_path = DEMO_DIR / "logs" / "dag-test.log"
    with log_path.open("w") as log:
        run = subprocess.run([_bin("airflow"), "dags", "test", f"htan_submission__{CENTER_ID}", "--conf",
                              json.dumps({"batch": batch, "note": "demo batch"})],
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    text = log_path.read_text()
    wanted = ("Preflight for", "[ok]", "[FAIL]", "Validated ", "PHI scan of ", "Batch report", "chunk ",
              "RecordSet", "Submission of ", "liaison")
    summary = [line for line in text.splitlines() if any(w in line for w in wanted)]
    print("\n".join(line[:220] for line in summary[:30]))
    print(f"Reports of the run: {(DEMO_DIR / 'reports').relative_to(REPO)}/")
    finished = re.search(r"DagRun Finished: .*?state=(\w+)", text)
    state = finished.group(1) if finished else "unknown"
    print(f"\nDAG run of htan_submission__{CENTER_ID}: {state} (full log: {log_path.relative_to(REPO)})")
    return 0 if run.returncode == 0 and state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
