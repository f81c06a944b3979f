"""Every DAG under dags/ imports cleanly, follows the house rules, and parses cheaply."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("pandas", "synapseclient", "boto3", "tifffile", "pydicom", "pandera")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_submission_dag_per_center(dagbag):
    from htan_submission.config import load_centers

    expected = {center.dag_id for center in load_centers().values()}
    assert expected <= set(dagbag.dag_ids)


# Tasks a retry cannot help (issue: "none where it cannot"): the dry-run gate only reads a
# parameter. (The sign-off is retried: its decisions and timeout raise exceptions Airflow never
# retries, while a lost worker or a scheduler race on resume is worth a retry.)
NOT_RETRIED = {"dry_run_gate"}


def test_every_dag_has_owner_tags_retries_and_docs(dagbag):
    assert dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", (dag_id, task.task_id)
            if task.task_id in NOT_RETRIED:
                assert task.retries == 0, (dag_id, task.task_id)
            else:
                assert task.retries >= 2, (dag_id, task.task_id)
            assert task.doc_md, (dag_id, task.task_id)


def test_parsing_imports_nothing_heavy():
    """Parse every DAG file in a fresh interpreter and list the heavy modules it loaded."""
    code = (
        "import importlib.util, json, pathlib, sys\n"
        f"sys.path.insert(0, {str(REPO / 'dags')!r})\n"
        f"for path in sorted(pathlib.Path({str(REPO / 'dags')!r}).glob('*.py')):\n"
        "    spec = importlib.util.spec_from_file_location(path.stem, path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


# Every step that reads or writes the ingest folder must write into the release the form chose.
RELEASE_BOUND = {"preflight", "inventory", "validate", "scrub", "report", "plan", "copy", "attach_metadata", "verify"}


def test_every_ingest_folder_step_takes_the_runs_release(dagbag):
    from htan_submission.config import load_centers

    for center in load_centers().values():
        dag = dagbag.dags[center.dag_id]
        assert dag.params["release"] == center.release
        for task_id in RELEASE_BOUND:
            task = dag.get_task(task_id)
            release = task.partial_kwargs.get("release") if hasattr(task, "partial_kwargs") else task.release
            assert release == "{{ params.release }}", (center.dag_id, task_id)
            assert "release" in task.template_fields, (center.dag_id, task_id)


def test_every_task_has_a_time_limit(dagbag):
    """``execution_timeout`` everywhere; the sign-off sensor is bounded by its own ``timeout``
    (centers.yaml ``signoff_timeout_days``), which its trigger enforces while deferred."""
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            if task.task_id == "liaison_signoff":
                assert task.timeout and task.timeout <= 90 * 86400, dag_id
            else:
                assert task.execution_timeout is not None, (dag_id, task.task_id)
