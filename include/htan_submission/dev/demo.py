"""``make demo``: a whole submission of the demo center in a real Airflow, against local stand-ins.

Starts moto S3 and the Synapse emulator on loopback and seeds what the DCC would have set up for
the demo center HTA200 (project, v1_ingest tree, a certified submitter, the liaison, the schemas,
the bucket as a storage location). Shows the CLI on its own (a refused and a passing preflight, a
batch with typical mistakes, planted header PHI), uploads the clean demo batch to S3, starts
``airflow standalone`` on SQLite and triggers ``htan_submission__HTA200`` through the REST API.

Then it is the liaison's turn. By default the demo prints the UI's address, the logins and what
to click (read the report, approve in the ``htan_liaison_review`` form as the liaison) and keeps
Airflow up until Ctrl-C. With ``DEMO_AUTO_APPROVE=1`` it approves as the liaison through the same
review DAG (REST API, logged in as the liaison), waits for the run to succeed, prints a summary
and stops: the unattended mode a test runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

from htan_submission.airflow.links import report_index_url
from htan_submission.config import get_center
from htan_submission.dev.airflow_standalone import AirflowUser, running_standalone, standalone_env
from htan_submission.dev.demo_batch import DEMO_COMPONENTS, build_demo_batch, upload_batch
from htan_submission.dev.demo_world import liaison_names, seed_world
from htan_submission.dev.moto_s3 import free_port, running_moto
from htan_submission.reports.batch import run_report_dir
from htan_submission.signoff.notice import REVIEW_DAG_ID
from synapse_emulator.launch import running_emulator

REPO = Path(__file__).resolve().parents[3]
DEMO_DIR = Path(os.environ.get("HTAN_DEMO_DIR") or REPO / ".demo")  # the tests run the demo elsewhere
CENTER_ID = "HTA200"
SUBMITTER = ("demo_submitter", "demo-submitter-token")
UNCERTIFIED = ("demo_newcomer", "demo-newcomer-token")


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _show(path: Path) -> Path:
    """A path as the person running ``make demo`` from the repo wants to read it."""
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


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
        emulator.admin.add_user(*UNCERTIFIED, certified=False, two_factor=False)
        seeded = seed_world(emulator.admin, moto.client(), center, submitter=SUBMITTER,
                            components=list(DEMO_COMPONENTS))
        emulator.admin.grant(seeded.ingest_folder_id, UNCERTIFIED[0], "edit")
        print(f"Seeded what the DCC sets up for {center.center_id}: project {seeded.project_id}, "
              f"{center.ingest_folder_name} {seeded.ingest_folder_id} ({len(seeded.folders)} folders), "
              f"{len(DEMO_COMPONENTS)} schemas, s3://{center.s3.bucket}/{center.s3.prefix} as a storage location, "
              f"liaisons {', '.join(liaison_names(center))}")

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

        faulty = build_demo_batch(DEMO_DIR / "batch-with-mistakes", faults=True)
        _banner("htan-submit validate .demo/batch-with-mistakes   (a batch with typical mistakes)")
        subprocess.run([_bin("htan-submit"), "validate", str(faulty), "--html", str(DEMO_DIR / "validation.html")],
                       env=env)
        print(f"(HTML report: {_show(DEMO_DIR / 'validation.html')})")
        batch_dir = build_demo_batch(DEMO_DIR / "batch")
        _banner("htan-submit scan-images .demo/batch/pathology   (planted PHI in the slide's header)")
        _run_shortened([_bin("htan-submit"), "scan-images", str(batch_dir / "pathology")], env)
        batch = upload_batch(moto.client(), batch_dir, center.s3.bucket, f"{center.s3.prefix}demo-batch-1")
        print(f"Uploaded the clean demo batch to {batch}")
        return _submit_in_airflow(emulator, moto, center, batch, auto=os.environ.get("DEMO_AUTO_APPROVE") == "1")


def _run_shortened(command: list[str], env: dict[str, str], keep: int = 12) -> int:
    """Run a CLI command and show its first ``keep`` findings and its summary: the full list is
    in its report, and a screenful reads better in a demo."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = (done.stdout + done.stderr).splitlines()
    findings = [line for line in lines if line.startswith(("error:", "warning:"))]
    others = [line for line in lines if line not in findings]
    print("\n".join(findings[:keep]))
    if len(findings) > keep:
        print(f"... and {len(findings) - keep} more finding(s) of these kinds")
    print("\n".join(others))
    print(f"(exit {done.returncode})")
    return done.returncode


def _airflow_users(center) -> tuple[AirflowUser, list[AirflowUser]]:
    """The admin who submits, and one Airflow user per liaison (``synapse:``-only entries are not
    Airflow users). Random passwords, printed for the person running the demo."""
    admin = AirflowUser.with_random_password("admin", "admin")
    return admin, [AirflowUser.with_random_password(name, "user") for name in liaison_names(center, "airflow")]


def _port() -> int:
    """``DEMO_AIRFLOW_PORT`` (default 8080), or a free port when that one is taken."""
    wanted = int(os.environ.get("DEMO_AIRFLOW_PORT", "8080"))
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", wanted)) != 0:
            return wanted
    return free_port()


def _submit_in_airflow(emulator, moto, center, batch: str, *, auto: bool) -> int:
    home = DEMO_DIR / "airflow"
    admin, liaisons = _airflow_users(center)
    if not liaisons:
        print(f"demo: centers.yaml names no Airflow liaison for {center.center_id}", file=sys.stderr)
        return 1
    liaison = liaisons[0]
    env = standalone_env(home, _port(), users=[admin, *liaisons], connections={
        "synapse_default": {"conn_type": "synapse", "host": emulator.base_url, "password": SUBMITTER[1]},
        "htan_signoff": {"conn_type": "generic", "password": secrets.token_hex(16)}},
        extra={"AIRFLOW_CONN_AWS_DEFAULT": moto.airflow_conn_uri(), "HTAN_REPORTS_DIR": str(DEMO_DIR / "reports"),
               "HTAN_SIGNOFF_POLL_SECONDS": "5"})
    dag_id = center.dag_id
    _banner(f"Airflow: airflow standalone on SQLite in {_show(home)} (starting: about a minute)")
    with running_standalone(home, env, [admin, *liaisons], wait_for_dags=[dag_id, REVIEW_DAG_ID],
                            log_file=DEMO_DIR / "logs" / "airflow-standalone.log") as api:
        run_id = api.trigger(dag_id, {"batch": batch, "note": "Demo batch: first scRNA-seq and pathology upload"},
                             user=admin.name)
        ui = api.base_url
        print(f"Triggered {dag_id} through the REST API: run {run_id}")
        print(f"  Airflow UI:  {ui}/dags/{dag_id}/runs/{run_id}")
        print(f"  Logins:      {admin.name} / {admin.password}   (submitter, admin)")
        print(f"               {liaison.name} / {liaison.password}   (the center's liaison)")
        try:
            # deferred: the sensor holds no worker while the liaison reads the report
            api.wait_for_task(dag_id, run_id, "liaison_signoff", ("deferred",), user=admin.name, deadline_s=900)
        except RuntimeError as exc:
            return _finish(api, admin, dag_id, run_id, home, reason=str(exc))
        print("\nThe checks passed and the run waits for the liaison. The report: "
              f"{report_index_url(dag_id, run_id, ui)}")
        review = {"center": center.center_id, "run_id": run_id, "batch": batch, "decision": "approved",
                  "comment": "Reviewed the report: approved (demo)"}
        if auto:
            review_run = api.trigger(REVIEW_DAG_ID, review, user=liaison.name)
            state = api.wait_for_run(REVIEW_DAG_ID, review_run, user=liaison.name)
            print(f"[demo] {liaison.name} approved in the htan_liaison_review form (REST API): review run {state}")
            return _finish(api, admin, dag_id, run_id, home)
        _banner("Your turn: the liaison's review")
        print(f"""  1. Open {ui}/dags/{dag_id}/runs/{run_id} and log in as {admin.name}: the run waits at
     liaison_signoff (deferred: it holds no worker). Click the task "report", its Details tab,
     then "HTAN report" under Extra Links: the batch report (validation, PHI scan, audit trail).
  2. Log out and log in as {liaison.name} / {liaison.password}. Open {ui}/dags/{REVIEW_DAG_ID}
     ("Liaison review" under the sign-off's Extra Links), click Trigger and fill the form:
     center {center.center_id}, run id {run_id},
     batch {batch}, decision approved (a comment is optional).
     (As {admin.name} the decision is recorded but does not count: only the center's liaisons decide.)
  3. Back on the submission run: plan, copy, attach_metadata, verify and summary run; the files,
     annotations and RecordSets land in the Synapse emulator ({emulator.base_url}).
Waiting for the run to finish; Ctrl-C stops Airflow and the stand-ins.""", flush=True)
        code = 130  # stopped before the run finished
        try:
            code = _finish(api, admin, dag_id, run_id, home, deadline_s=7 * 24 * 3600)
            print(f"\nAirflow stays up at {ui} to look around; Ctrl-C to stop.", flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nStopping Airflow, the emulator and moto.")
        return code


def _finish(api, admin: AirflowUser, dag_id: str, run_id: str, home: Path, *, reason: str | None = None,
            deadline_s: float = 900) -> int:
    """Wait for the run, then print what it did (from its summary.json) or where it failed."""
    state = api.wait_for_run(dag_id, run_id, user=admin.name, deadline_s=deadline_s) if reason is None else \
        api.run_state(dag_id, run_id, user=admin.name)
    _banner(f"Run {run_id} of {dag_id}: {state}")
    run_dir = run_report_dir(dag_id, run_id, DEMO_DIR / "reports")
    summary_path = run_dir / "summary.json"
    if state == "success" and summary_path.exists():
        summary = json.loads(summary_path.read_text())
        signoff, transfer = summary.get("signoff") or {}, summary.get("transfer") or {}
        metadata, verify = summary.get("metadata") or {}, summary.get("verify") or {}
        print(f"  batch:       {summary['batch']}")
        print(f"  validation:  {_counts(summary.get('validation'))}")
        print(f"  PHI scrub:   {_counts(summary.get('scrub'))}")
        print(f"  sign-off:    {signoff.get('decision')} by {signoff.get('who')} via {signoff.get('source')} "
              f"at {signoff.get('when')}")
        files = ", ".join(f"{n} {action}" for action, n in (transfer.get("files") or {}).items() if n)
        sent = transfer.get("bytes") or 0
        print(f"  transfer:    {files or 'no files'} in {transfer.get('chunks')} chunk(s), {sent:,} bytes sent"
              f"{'' if sent else ' (index mode: zero-copy)'}")
        record_sets = [f"{r['component']} {r['record_set_id']} (+{r['added']} rows)"
                       for r in metadata.get("record_sets", [])]
        print(f"  metadata:    annotations on {(metadata.get('files') or {}).get('checked', 0)} file(s); "
              f"RecordSets: {', '.join(record_sets) or 'none'}")
        print(f"  verify:      {verify.get('checked')} checked, {verify.get('valid')} valid, "
              f"{verify.get('invalid')} invalid")
        print(f"  report:      {_show(run_dir / 'report.html')}")
        return 0
    failed = [t for t, s in api.task_states(dag_id, run_id, user=admin.name).items() if s == "failed"]
    print(f"  failed tasks: {', '.join(failed) or '(none)'}{f' ({reason})' if reason else ''}")
    print(f"  task logs:    {_show(home / 'logs')}/   reports: {_show(run_dir)}/")
    return 1


def _counts(step: dict | None) -> str:
    """A step's counts from its XCom (small dicts of numbers and URIs), without the URIs."""
    if not step:
        return "-"
    return ", ".join(f"{k} {v}" for k, v in step.items() if isinstance(v, int | float) and not isinstance(v, bool))


if __name__ == "__main__":
    sys.exit(main())
