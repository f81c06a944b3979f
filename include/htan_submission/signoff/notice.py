"""What the liaison is told, as plain text: built here (no Airflow), sent by the notifier.

The message carries what a liaison needs to decide without opening Airflow first: the batch,
its counts, the submitter's note, the report, and both ways to answer (the Airflow review form
with the values to enter, and the annotations to set on the report in Synapse). Every value in
it comes from the run; none is a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from htan_submission.synapse.reports import COMMENT_ANNOTATION, DECISION_ANNOTATION

REVIEW_DAG_ID = "htan_liaison_review"


@dataclass(frozen=True)
class Notice:
    center_id: str
    center_name: str
    batch: str
    run_id: str
    report_url: str | None = None
    review_url: str | None = None
    report_entity_url: str | None = None
    counts: Mapping[str, object] = field(default_factory=dict)
    note: str = ""
    timeout_days: float | None = None


def review_url(airflow_base_url: str | None) -> str | None:
    """The review DAG's page in the Airflow UI (its Trigger button opens the form). Airflow
    3.3's UI does not pre-fill the form from the URL, so the message lists the values."""
    if not airflow_base_url:
        return None
    return f"{airflow_base_url.rstrip('/')}/dags/{REVIEW_DAG_ID}"


def _counts(counts: Mapping[str, object]) -> list[str]:
    return [f"  - {key.replace('_', ' ')}: {value}" for key, value in counts.items()]


def _answer(n: Notice) -> list[str]:
    lines = ["How to decide (either way; only the center's liaisons count):"]
    if n.review_url:
        lines.append(f"  - In Airflow: {n.review_url} -> Trigger, with")
    else:
        lines.append(f"  - In Airflow: the DAG {REVIEW_DAG_ID} -> Trigger, with")
    lines += [f"      center = {n.center_id}", f"      run_id = {n.run_id}", f"      batch  = {n.batch}",
              "      decision = approved or rejected, and a comment (required to reject)"]
    where = n.report_entity_url or "the report's File entity in Synapse"
    lines.append(f"  - In Synapse: on {where} set the annotations {DECISION_ANNOTATION} = approved or rejected "
                 f"and {COMMENT_ANNOTATION} = your comment")
    return lines


def ready_message(n: Notice) -> tuple[str, str]:
    """(subject, body) of "a report waits for your sign-off"."""
    subject = f"[HTAN {n.center_id}] batch report ready for your sign-off"
    lines = [f"A batch of {n.center_name} ({n.center_id}) waits for the data liaison's sign-off.", "",
             f"Batch:  {n.batch}", f"Run:    {n.run_id}"]
    if n.report_url:
        lines.append(f"Report: {n.report_url}")
    if n.report_entity_url and n.report_entity_url != n.report_url:
        lines.append(f"Report in Synapse: {n.report_entity_url}")
    if n.counts:
        lines += ["", "Counts:", *_counts(n.counts)]
    lines += ["", "Submitter's note:", f"  {n.note.strip()}" if n.note.strip() else "  (none)", "", *_answer(n)]
    if n.timeout_days:
        lines += ["", f"Without a decision within {n.timeout_days:g} days the run fails and must be re-submitted."]
    return subject, "\n".join(lines) + "\n"


def timeout_message(n: Notice) -> tuple[str, str]:
    """(subject, body) of "nobody decided in time"."""
    subject = f"[HTAN {n.center_id}] sign-off timed out"
    days = f" within {n.timeout_days:g} days" if n.timeout_days else ""
    lines = [f"No liaison of {n.center_id} decided on this batch{days}; the run has failed.", "",
             f"Batch: {n.batch}", f"Run:   {n.run_id}"]
    if n.report_url:
        lines.append(f"Report: {n.report_url}")
    lines += ["", "Submit the batch again (a new run) when it can be reviewed."]
    return subject, "\n".join(lines) + "\n"
