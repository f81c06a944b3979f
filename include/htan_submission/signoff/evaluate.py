"""Which decisions count: only a liaison of the center, about this very run, saying approved or
rejected, in a record the sign-off wrote. The latest such decision wins (a liaison who rejected
by mistake approves afterwards, and clearing the sensor picks that up).

Everything else is *ignored*, never dropped: each ignored record is a verdict with its reason,
for the task log and the audit trail.

``liaisons`` entries in centers.yaml are names; ``airflow:alice`` or ``synapse:alice`` restrict
an entry to one route (an Airflow user name and a Synapse user name need not be one person).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from htan_submission.signoff.model import DECISIONS, SOURCES, Decision
from htan_submission.signoff.store import StoredRecord, same_batch


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    accepted: bool
    reason: str
    uri: str | None = None

    def summary(self) -> str:
        state = "accepted" if self.accepted else f"ignored ({self.reason})"
        return f"{self.decision.summary()} — {state}"


@dataclass(frozen=True)
class Evaluation:
    verdicts: tuple[Verdict, ...]  # oldest first
    unreadable: tuple[StoredRecord, ...] = ()  # objects that are not decision records at all

    @property
    def accepted(self) -> Verdict | None:
        """The decision that stands: the latest accepted one."""
        return next((v for v in reversed(self.verdicts) if v.accepted), None)

    @property
    def outcome(self) -> str | None:
        return self.accepted.decision.decision if self.accepted else None

    @property
    def ignored(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.accepted]


def is_liaison(who: str, source: str, liaisons: Iterable[str]) -> bool:
    """Exact match on the name (user names are identities: no case folding, no trimming of a
    look-alike); an ``airflow:``/``synapse:`` prefix limits an entry to that route."""
    for entry in liaisons:
        route, colon, name = entry.partition(":")
        if not colon or route not in SOURCES:
            route, name = "", entry
        if name == who and route in ("", source):
            return True
    return False


def judge(decision: Decision, *, center_id: str, batch: str, run_id: str, liaisons: Iterable[str],
          problem: str | None = None, uri: str | None = None) -> Verdict:
    """One decision's verdict, with the first reason it cannot count."""
    if problem:
        reason = problem
    elif (decision.center_id, decision.run_id) != (center_id, run_id) or not same_batch(decision.batch, batch):
        reason = f"it is about another run ({decision.center_id} {decision.run_id} {decision.batch})"
    elif decision.source not in SOURCES:
        reason = f"unknown route {decision.source!r}"
    elif decision.decision not in DECISIONS:
        reason = f"{decision.decision!r} is neither {' nor '.join(DECISIONS)}"
    elif not decision.who:
        reason = "nobody is named as its author"
    elif not is_liaison(decision.who, decision.source, liaisons):
        reason = f"{decision.who} is not a liaison of {center_id} for {decision.source} decisions"
    else:
        return Verdict(decision, True, f"{decision.who} is a liaison of {center_id}", uri)
    return Verdict(decision, False, reason, uri)


def evaluate(records: Iterable[StoredRecord], *, center_id: str, batch: str, run_id: str,
             liaisons: Iterable[str], extra: Iterable[Decision] = ()) -> Evaluation:
    """Verdicts on the stored records plus ``extra`` decisions not (yet) stored (a Synapse state
    seen now whose copy could not be written), oldest first; a Synapse state stored and seen
    again (same etag) counts once."""
    liaisons = tuple(liaisons)
    verdicts: list[Verdict] = []
    unreadable: list[StoredRecord] = []
    seen: set[tuple[str, str]] = set()
    for record in records:
        if record.decision is None:
            unreadable.append(record)
            continue
        seen.add(_identity(record.decision))
        verdicts.append(judge(record.decision, center_id=center_id, batch=batch, run_id=run_id,
                              liaisons=liaisons, problem=record.problem, uri=record.uri))
    for decision in extra:
        if _identity(decision) not in seen:
            seen.add(_identity(decision))
            verdicts.append(judge(decision, center_id=center_id, batch=batch, run_id=run_id, liaisons=liaisons))
    verdicts.sort(key=lambda v: v.decision.when)
    return Evaluation(tuple(verdicts), tuple(unreadable))


def _identity(decision: Decision) -> tuple[str, str]:
    if decision.source == "synapse":
        return "synapse", str(decision.ref.get("etag"))
    return decision.source, decision.to_dict()["when"] + decision.who
