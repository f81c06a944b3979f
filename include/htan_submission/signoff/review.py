"""The Airflow route: a decision made in the review DAG's trigger form, written to the store.

The form's values are checked before anything is written (a decision the sensor could never
use is an error the reviewer should see at once); then the record is written whoever made it,
and the verdict says whether it counts: an attempt by someone who is not a liaison is recorded
for the audit and reported to them as such.
"""

from __future__ import annotations

from typing import Any

from htan_submission.signoff.evaluate import Verdict, judge
from htan_submission.signoff.model import DECISIONS, Decision, clean_comment, normalise_decision, utcnow
from htan_submission.signoff.store import signoff_location, write_decision


class ReviewError(ValueError):
    """The review form's values cannot make a decision; the message says what to change."""


def record_review(s3, *, center_id: str, batch: str, run_id: str, decision: str, comment: str, who: str | None,
                  liaisons: tuple[str, ...], key: bytes, ref: dict[str, Any] | None = None) -> tuple[str, Verdict]:
    """Write the decision record; returns its ``s3://`` URI and its verdict."""
    decision = normalise_decision(decision)
    comment = clean_comment(comment)
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be {' or '.join(DECISIONS)}, not {decision!r}")
    if decision == "rejected" and not comment:
        raise ReviewError("a rejection needs a comment: the center reads it to fix the batch")
    if not who:
        raise ReviewError("this review run has no triggering user (trigger it from the UI or the REST API "
                          "as yourself): a decision without a name cannot count")
    if not run_id.strip():
        raise ReviewError("run_id: the submission DAG run id the decision is about")
    try:
        signoff_location(batch, run_id)
    except ValueError as exc:
        raise ReviewError(f"batch: {exc}") from None
    record = Decision(center_id=center_id, batch=batch, run_id=run_id.strip(), decision=decision, comment=comment,
                      who=who, when=utcnow(), source="airflow", ref=dict(ref or {}))
    uri = write_decision(s3, record, key)
    return uri, judge(record, center_id=center_id, batch=batch, run_id=record.run_id, liaisons=liaisons, uri=uri)
