"""A liaison's decision on one batch run, as a plain record that travels as JSON.

Both routes produce the same shape: the review DAG in Airflow (``source="airflow"``, ``who`` is
the Airflow user who triggered the review run) and the report entity's annotations in Synapse
(``source="synapse"``, ``who`` is the Synapse user who last modified the entity). Whether a
record counts is decided later, by :mod:`htan_submission.signoff.evaluate`, never here: every
attempt is kept so the audit trail shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DECISIONS = ("approved", "rejected")
SOURCES = ("airflow", "synapse")
RECORD_SCHEMA = "htan.signoff.decision/1"
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Decision:
    """What (``decision``, ``comment``), who, when, through which route, about which run.

    ``decision`` is kept as given (e.g. a mistyped Synapse annotation ``"aproved"``) so that an
    unusable attempt is still recorded; :func:`is_valid_decision` says whether it can count.
    ``ref`` names the evidence: the review DAG run, or the Synapse entity, etag and principal id.
    """

    center_id: str
    batch: str
    run_id: str
    decision: str
    comment: str
    who: str
    when: datetime
    source: str
    ref: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": RECORD_SCHEMA, "center_id": self.center_id, "batch": self.batch, "run_id": self.run_id,
                "decision": self.decision, "comment": self.comment, "who": self.who, "when": iso(self.when),
                "source": self.source, "ref": dict(self.ref)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """Raises ``ValueError`` for anything that is not a decision record of ours."""
        if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA:
            raise ValueError("not a sign-off decision record")
        try:
            return cls(center_id=str(data["center_id"]), batch=str(data["batch"]), run_id=str(data["run_id"]),
                       decision=str(data["decision"]), comment=str(data.get("comment") or ""), who=str(data["who"]),
                       when=parse_when(str(data["when"])), source=str(data["source"]), ref=dict(data.get("ref") or {}))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"decision record lacks a field: {exc}") from None

    @property
    def is_valid_decision(self) -> bool:
        return self.decision in DECISIONS

    def summary(self) -> str:
        """One line for logs and exceptions: no secrets, the comment cut to 200 characters."""
        comment = f": {self.comment[:200]}" if self.comment else ""
        return f"{self.decision!r} by {self.who} via {self.source} at {iso(self.when)}{comment}"


def normalise_decision(value: object) -> str:
    """``" Approved "`` -> ``"approved"``; anything else is kept (lower-cased) for the audit."""
    return str(value or "").strip().lower()


def clean_comment(value: object) -> str:
    return str(value or "").strip()[:MAX_COMMENT_CHARS]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """UTC, microseconds, ``Z``: sorts as text in the same order as in time."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_when(text: str) -> datetime:
    """ISO-8601 (Synapse's ``...123Z`` or ours) -> aware UTC datetime."""
    when = datetime.fromisoformat(text.strip())
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def safe_segment(value: str) -> str:
    """A run id as one S3 key / folder segment (``manual__2026-01-05T10:00:00+00:00`` has ``:``)."""
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in value)
