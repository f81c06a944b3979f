"""The liaison's sign-off on a batch: decisions, where they are kept, and which ones count.

Airflow-free. Two routes produce decisions: the review DAG (``review.record_review``) and the
report entity's annotations in Synapse (``synapse_route.observe_report``). Both end up as signed
records in S3 next to the batch (``store``), judged against the center's liaisons (``evaluate``);
``watch.SignOffWatcher`` is the one look the sensor and its trigger repeat; ``audit`` turns the
verdicts into the report's audit trail; ``notice`` words what the liaison is told.
"""

from __future__ import annotations

from htan_submission.reports.html import AuditEntry
from htan_submission.signoff.audit import audit_entries
from htan_submission.signoff.evaluate import Evaluation, Verdict, evaluate, is_liaison, judge
from htan_submission.signoff.model import DECISIONS, Decision
from htan_submission.signoff.notice import Notice, ready_message, review_url, timeout_message
from htan_submission.signoff.review import ReviewError, record_review
from htan_submission.signoff.store import read_decisions, signoff_location, write_decision
from htan_submission.signoff.watch import SignOffRequest, SignOffWatcher
from htan_submission.synapse.reports import report_entity_name, upload_report_entity


def read_audit(s3, request: SignOffRequest, key: bytes) -> list[AuditEntry]:
    """The audit rows of a run's stored decisions (for the summary report)."""
    records = read_decisions(s3, request.batch, request.run_id, key)
    return audit_entries(evaluate(records, center_id=request.center_id, batch=request.batch, run_id=request.run_id,
                                  liaisons=request.liaisons))


__all__ = [
    "DECISIONS", "Decision", "Evaluation", "Notice", "ReviewError", "SignOffRequest", "SignOffWatcher", "Verdict",
    "audit_entries", "evaluate", "is_liaison", "judge", "read_audit", "read_decisions", "ready_message",
    "record_review", "report_entity_name", "review_url", "signoff_location", "timeout_message",
    "upload_report_entity", "write_decision",
]
