"""Airflow adapters of nightly discovery (``htan_submission.discovery``): the two task bodies and
the trigger operator the DAG ``htan_nightly_discovery__<CENTER>`` wires together."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

log = logging.getLogger(__name__)


class LiteralConfTriggerDagRunOperator(TriggerDagRunOperator):
    """``TriggerDagRunOperator`` whose ``conf`` is passed as it is, never rendered by Jinja.

    The conf carries text a center wrote (``batch.yaml``'s note, the batch folder's name). The stock
    operator renders ``conf`` as a template, so a note such as ``{{ conn.aws_default.password }}``
    would put a secret into the submission run's conf, visible in the UI. Only the run id (which
    discovery builds from ``[A-Za-z0-9_.-]``) stays templated."""

    template_fields: Sequence[str] = tuple(f for f in TriggerDagRunOperator.template_fields if f != "conf")


def _s3(aws_conn_id: str):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def _run_exists(ti: Any, dag_id: str) -> Callable[[str], bool]:
    """Asks Airflow (through the task's execution API) whether the submission run exists."""
    return lambda run_id: ti.get_dr_count(dag_id=dag_id, run_ids=[run_id]) > 0


def discover_batches(center_id: str, ti: Any) -> list[dict]:
    """Claims the center's ready batches; returns the trigger operator's expand kwargs and pushes
    the whole discovery summary as XCom ``discovery`` (the confirm step reports its problems)."""
    from htan_submission.config import get_center
    from htan_submission.discovery import discover

    center = get_center(center_id)
    found = discover(_s3(center.aws_conn_id), bucket=center.s3.bucket, prefix=center.s3.prefix,
                     dag_id=center.dag_id, claimed_by=f"{ti.dag_id}/{ti.run_id}",
                     run_exists=_run_exists(ti, center.dag_id))
    log.info("s3://%s/%s: %s", center.s3.bucket, center.s3.prefix, found.summary())
    for problem in found.problems:
        log.warning("%s", problem)
    ti.xcom_push(key="discovery", value=found.to_dict())
    return [claim.trigger_kwargs() for claim in found.triggers]


def confirm_batches(center_id: str, ti: Any) -> dict:
    """Marks triggered batches; fails (no retry: a person must look) when discover did not finish,
    a claimed batch has no run, or discovery found a problem."""
    from airflow.sdk.exceptions import AirflowFailException

    from htan_submission.config import get_center
    from htan_submission.discovery import confirm

    found = ti.xcom_pull(task_ids="discover", key="discovery")
    if found is None:
        raise AirflowFailException("discover did not finish, so nothing was claimed or triggered; see its log")
    triggers = list(ti.xcom_pull(task_ids="discover") or [])
    center = get_center(center_id)
    result = confirm(_s3(center.aws_conn_id), [t["conf"]["batch"] for t in triggers],
                     [t["trigger_run_id"] for t in triggers], run_exists=_run_exists(ti, center.dag_id))
    log.info("confirmed %s batch(es): %s", len(result.confirmed), result.confirmed)
    trouble = ([f"no run was created for {url}; it stays claimed and the next discovery triggers it again"
                for url in result.pending] + result.problems + list(found.get("problems") or []))
    if trouble:
        raise AirflowFailException("; ".join(trouble))
    return {"confirmed": result.confirmed}
