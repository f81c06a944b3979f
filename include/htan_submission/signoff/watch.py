"""One look at a run's sign-off: read both routes, copy a new Synapse decision to the store,
judge everything. The sensor's first poke and every poll of its trigger call the same code.

A ``SignOffWatcher`` keeps what is worth keeping between polls of a 14-day wait: the records
already read (they never change), user names already resolved, and which ignored attempts were
already reported (so each is logged once, not every minute).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from htan_submission.signoff.evaluate import Evaluation, Verdict, evaluate
from htan_submission.signoff.model import Decision
from htan_submission.signoff.store import StoredRecord, read_decisions, record_name, signoff_location, write_decision
from htan_submission.signoff.synapse_route import observe_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignOffRequest:
    """Which run waits, and who may decide. Plain values: it travels in a trigger's kwargs."""

    center_id: str
    batch: str
    run_id: str
    liaisons: tuple[str, ...]
    report_entity_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"center_id": self.center_id, "batch": self.batch, "run_id": self.run_id,
                "liaisons": list(self.liaisons), "report_entity_id": self.report_entity_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignOffRequest:
        return cls(center_id=data["center_id"], batch=data["batch"], run_id=data["run_id"],
                   liaisons=tuple(data.get("liaisons") or ()), report_entity_id=data.get("report_entity_id") or None)


@dataclass
class SignOffWatcher:
    request: SignOffRequest
    s3: Any
    key: bytes = field(repr=False)
    synapse: Any = None  # a SynapseGateway (or raw client) when the report entity is watched
    _records: dict[str, StoredRecord] = field(default_factory=dict, repr=False)
    _names: dict[str, str] = field(default_factory=dict, repr=False)
    _reported: set[str] = field(default_factory=set, repr=False)
    _synapse_problem: str | None = field(default=None, repr=False)

    def poll(self) -> Evaluation:
        r = self.request
        seen = self._observe_synapse()
        records = read_decisions(self.s3, r.batch, r.run_id, self.key, cache=self._records)
        if seen is not None and not self._stored(seen, records):
            try:
                write_decision(self.s3, seen, self.key)
                records = read_decisions(self.s3, r.batch, r.run_id, self.key, cache=self._records)
            except Exception as exc:  # the copy is for the audit; the live state still counts
                log.warning("could not copy the Synapse decision to %s: %s",
                            signoff_location(r.batch, r.run_id).uri, type(exc).__name__)
        return evaluate(records, center_id=r.center_id, batch=r.batch, run_id=r.run_id, liaisons=r.liaisons,
                        extra=[seen] if seen is not None else [])

    def new_ignored(self, evaluation: Evaluation) -> list[Verdict]:
        """Ignored attempts not reported before (each is logged once per watcher)."""
        fresh = []
        for verdict in evaluation.ignored:
            ident = verdict.uri or record_name(verdict.decision)
            if ident not in self._reported:
                self._reported.add(ident)
                fresh.append(verdict)
        return fresh

    def _observe_synapse(self) -> Decision | None:
        """The report entity's decision; a Synapse failure is logged (once per kind) and the S3
        route still counts: an outage of one route must not hide a decision made in the other."""
        r = self.request
        if self.synapse is None or not r.report_entity_id:
            return None
        try:
            seen = observe_report(self.synapse, r.report_entity_id, center_id=r.center_id, batch=r.batch,
                                  run_id=r.run_id, names=self._names)
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            problem = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
            if problem != self._synapse_problem:
                log.warning("cannot read the report entity %s in Synapse: %s; checking S3 decisions only",
                            r.report_entity_id, problem)
            self._synapse_problem = problem
            return None
        self._synapse_problem = None
        return seen

    def _stored(self, decision: Decision, records: list[StoredRecord]) -> bool:
        name = record_name(decision)
        return any(rec.uri.endswith("/" + name) for rec in records)
