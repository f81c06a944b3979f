"""``default_args`` of a center's DAGs (submission and nightly discovery): the owner, retries with
exponential backoff for what a retry can fix (tasks that cannot be helped set ``retries=0`` or
raise ``AirflowFailException``), and the center told of every failed task (``FailureNotifier``).
Import-light: DAG files call it at parse time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from htan_submission.airflow.notifiers import FailureNotifier
from htan_submission.config import Center


def center_default_args(center: Center, *, retry_delay: timedelta) -> dict[str, Any]:
    return {
        "owner": f"htan-{center.center_id.lower()}",
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": FailureNotifier(center_id=center.center_id),
    }
