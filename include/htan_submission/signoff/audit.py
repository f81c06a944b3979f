"""The sign-off's audit trail as the batch report renders it: one row per decision, accepted or
ignored, with who, when and what (``reports.html.AuditEntry``)."""

from __future__ import annotations

from htan_submission.reports.html import AuditEntry
from htan_submission.signoff.evaluate import Evaluation


def audit_entries(evaluation: Evaluation) -> list[AuditEntry]:
    """Oldest first. ``what`` says the decision, whether it counts and why not, and the comment;
    the one that stands is marked so a reader sees the outcome at a glance."""
    standing = evaluation.accepted
    rows = []
    for verdict in evaluation.verdicts:
        d = verdict.decision
        if verdict is standing:
            state = "accepted, stands"
        elif verdict.accepted:
            state = "accepted, superseded by a later decision"
        else:
            state = f"ignored: {verdict.reason}"
        comment = f" — “{d.comment}”" if d.comment else ""
        rows.append(AuditEntry(when=d.when, who=f"{d.who or '(unknown)'} via {d.source}",
                               what=f"{d.decision} ({state}){comment}"))
    rows.extend(AuditEntry(when="—", who="(unreadable)", what=f"{r.uri}: ignored: {r.problem}")
                for r in evaluation.unreadable)
    return rows
