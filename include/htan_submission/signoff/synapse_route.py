"""The Synapse route: the liaison's annotations on the report entity, read as a ``Decision``.

Who decided is the entity's ``modifiedBy`` (Synapse sets it on every write, annotations
included; no client can set it), resolved to a user name. If someone else writes to the entity
after the liaison, the decision now reads as theirs and is ignored: the liaison saves it again.
A decision seen once is also copied to the S3 store (by the watcher), so the audit keeps it.
"""

from __future__ import annotations

from typing import Any

from htan_submission.signoff.model import Decision, clean_comment, normalise_decision, parse_when, utcnow
from htan_submission.synapse.reports import read_report_annotations


def observe_report(syn_or_gateway: Any, entity_id: str, *, center_id: str, batch: str, run_id: str,
                   names: dict[str, str] | None = None) -> Decision | None:
    """The decision the report entity carries now, or None when it carries none."""
    state = read_report_annotations(syn_or_gateway, entity_id, names)
    if state.decision is None:
        return None
    try:
        when = parse_when(state.modified_on)
    except ValueError:
        when = utcnow()
    return Decision(center_id=center_id, batch=batch, run_id=run_id, decision=normalise_decision(state.decision),
                    comment=clean_comment(state.comment),
                    who=state.modified_by_name or (f"principal {state.modified_by}" if state.modified_by else ""),
                    when=when, source="synapse",
                    ref={"entity_id": state.entity_id, "etag": state.etag, "version": state.version,
                         "principal_id": state.modified_by})
