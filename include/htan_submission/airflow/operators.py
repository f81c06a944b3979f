"""Operators of the submission DAG; each calls one core function."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from htan_submission.airflow.hooks import SynapseHook


class CertificationCheckOperator(BaseOperator):
    """Preflight: the submitter is certified, has 2FA on, accepted the ToS, and may upload to the
    center's ingest folder. A failed check fails the task without retries (a person must fix
    it; the log lists how); a Synapse outage raises normally, so Airflow's retries apply."""

    template_fields: Sequence[str] = ("center_id",)
    ui_color = "#d6eaf8"

    def __init__(self, *, center_id: str, synapse_conn_id: str = SynapseHook.default_conn_name,
                 centers_file: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.center_id = center_id
        self.synapse_conn_id = synapse_conn_id
        self.centers_file = centers_file

    @cached_property
    def hook(self) -> SynapseHook:
        return SynapseHook(synapse_conn_id=self.synapse_conn_id)

    def execute(self, context: Any) -> dict:
        from htan_submission.config import get_center
        from htan_submission.synapse.preflight import run_preflight

        center = get_center(self.center_id, self.centers_file)
        report = run_preflight(center, self.hook.target(), cache_dir=self.hook.cache_dir)
        self.log.info("%s", report.summary())
        if not report.passed:
            raise AirflowFailException(report.summary())
        return report.to_dict()
