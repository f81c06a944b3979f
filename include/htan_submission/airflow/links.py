"""The "HTAN report" button on a submission run's task instances (and "Liaison review" on the
sign-off's), and the URLs they point at.

The report folder of a run depends only on ``(dag_id, run_id)`` (``reports.batch.run_report_dir``),
so the link needs no XCom and no operator state: it can be computed wherever Airflow asks for it.
It is registered as a *global* operator extra link by ``plugins/htan_reports.py``; the API server
then calls ``get_link`` with the serialized task and the task instance key when the UI opens a task
instance, for every task of every DAG, which is why it answers ``""`` (Airflow shows no button)
for DAGs that are not ``htan_submission__<CENTER>``. The same class also works when put on an
operator (``operator_extra_links = (HtanReportLink(),)``): the worker then computes the link when
the task finishes and Airflow stores it in XCom under ``xcom_key``.

Import-light on purpose: plugins are imported by every Airflow component, and operators may import
this module in workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

REPORTS_URL_PREFIX = "/htan-reports"
"""Where ``plugins/htan_reports.py`` mounts the report app on the API server."""

SUBMISSION_DAG_PREFIX = "htan_submission__"
LINK_NAME = "HTAN report"
REVIEW_LINK_NAME = "Liaison review"
REVIEW_TASKS = ("report", "liaison_signoff")


def api_base_url() -> str:
    """``[api] base_url`` without its trailing slash; ``""`` when unset, so links stay relative to
    the UI's origin (the UI accepts same-origin relative links)."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def report_index_url(dag_id: str, run_id: str, base_url: str | None = None) -> str:
    """``<api base>/htan-reports/<dag_id>/<run_id>/``: the run's report index.

    Both ids are percent-encoded as single path segments (a run id holds ``:`` and ``+``); the
    report app decodes them and maps the run id to its folder the way ``run_report_dir`` does."""
    base = api_base_url() if base_url is None else base_url.rstrip("/")
    return f"{base}{REPORTS_URL_PREFIX}/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/"


def is_submission_dag(dag_id: str) -> bool:
    return dag_id.startswith(SUBMISSION_DAG_PREFIX) and len(dag_id) > len(SUBMISSION_DAG_PREFIX)


class HtanReportLink(BaseOperatorLink):
    """One click from a submission task instance to its run's reports."""

    name = LINK_NAME

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        dag_id, run_id = ti_key.dag_id, ti_key.run_id
        if not is_submission_dag(dag_id) or not run_id:
            return ""
        return report_index_url(dag_id, run_id)


class LiaisonReviewLink(BaseOperatorLink):
    """From the report and the waiting sign-off to the ``htan_liaison_review`` DAG, whose Trigger
    button opens the review form (Airflow 3.3 cannot pre-fill it from a URL; the liaison's message
    lists the values)."""

    name = REVIEW_LINK_NAME

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        from htan_submission.signoff.notice import review_url

        if not is_submission_dag(ti_key.dag_id) or getattr(ti_key, "task_id", None) not in REVIEW_TASKS:
            return ""
        return review_url(api_base_url() or "/") or ""
