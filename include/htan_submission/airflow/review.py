"""``RecordLiaisonDecisionOperator``: the task of the ``htan_liaison_review`` DAG.

Who decided is the Airflow user who triggered the review run (``dag_run.triggering_user_name``,
set by Airflow 3 from the logged-in user of the UI or REST API; the form cannot change it). The
decision is written, signed, next to the batch in S3 whoever made it: the audit trail shows
every attempt. The task then fails (without retry) when the user is not a liaison of the
center, so the person sees at once that their decision does not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException


class RecordLiaisonDecisionOperator(BaseOperator):
    template_fields: Sequence[str] = ("center_id", "batch", "submission_run_id", "decision", "comment")
    ui_color = "#d5f5e3"

    def __init__(self, *, center_id: str, batch: str, submission_run_id: str, decision: str, comment: str = "",
                 centers_file: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.center_id = center_id
        self.batch = batch
        self.submission_run_id = submission_run_id
        self.decision = decision
        self.comment = comment
        self.centers_file = centers_file

    def execute(self, context: Any) -> dict[str, Any]:
        from htan_submission.airflow.triggers import SignOffSetupError, s3_client, signing_key
        from htan_submission.config import ConfigError, get_center
        from htan_submission.signoff.review import ReviewError, record_review

        try:
            center = get_center(self.center_id, self.centers_file)
            key = signing_key(center.signoff_key_conn_id)
        except (ConfigError, SignOffSetupError) as exc:
            raise AirflowFailException(str(exc)) from None
        who = getattr(context["dag_run"], "triggering_user_name", None)
        try:
            uri, verdict = record_review(
                s3_client(center.aws_conn_id), center_id=center.center_id, batch=self.batch,
                run_id=self.submission_run_id, decision=self.decision, comment=self.comment, who=who,
                liaisons=center.liaisons, key=key, ref={"dag_id": context["dag"].dag_id, "run_id": context["run_id"]})
        except ReviewError as exc:
            raise AirflowFailException(str(exc)) from None
        self.log.info("Recorded %s at %s", verdict.decision.summary(), uri)
        if not verdict.accepted:
            self.log.warning("Ignored sign-off attempt: %s", verdict.summary())
            raise AirflowFailException(f"Recorded as an attempt that does not count: {verdict.reason}. Only the "
                                       f"liaisons of {center.center_id} listed in centers.yaml can sign off.")
        return {"record": uri, "decision": verdict.decision.decision, "who": verdict.decision.who,
                "center": center.center_id, "run_id": verdict.decision.run_id, "accepted": True}
