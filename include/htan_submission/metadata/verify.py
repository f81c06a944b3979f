"""After attachment: did Synapse keep what we sent, and does Synapse itself find it valid?

Two independent checks, because each catches what the other cannot. Reading annotations back
catches a write that was lost or altered (synapseclient's ``store`` swallows a refused one).
Synapse's own schema validation (``GET /entity/{id}/schema/validation``) is the DCC's judge,
with the schema the DCC registered, not our compiled copy of it. Validation is eventually
consistent: 404 until it ran, and a result may be about an older etag, so each entity is polled
until ``objectEtag`` is its current etag, within a deadline.

Very large batches read back a random sample (at least ``sample`` items) plus every item named
in ``always`` (files whose attachment failed or was repaired).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from htan_submission.findings import SENSITIVE, Finding, mask_value
from htan_submission.metadata.annotations import plain
from htan_submission.synapse import records as api
from htan_submission.synapse import schemas
from htan_submission.synapse.files import SynapseFiles
from htan_submission.synapse.rest import http_status

MAX_MESSAGE = 300
MAX_MESSAGES_PER_ITEM = 20
_ROW_POINTER = re.compile(r"^#/(\d+)(/|:)")


@dataclass(frozen=True)
class Item:
    """One entity to verify: a File (``annotations`` = what was sent) or a RecordSet
    (``record_set=True``, no annotations to compare)."""

    entity_id: str
    file: str  # where a finding points: the manifest (files) or the RecordSet's name
    row: int | None = None
    component: str | None = None
    annotations: dict | None = None
    record_set: bool = False


def trimmed(text: str, limit: int = MAX_MESSAGE) -> str:
    """Synapse's message, PHI-shaped values masked, cut to ``limit`` characters."""
    text = SENSITIVE.sub(lambda m: mask_value(m.group()), " ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def select(items: list[Item], *, sample: int = 200, sample_above: int = 1000, always: Iterable[str] = (),
           rng: random.Random | None = None) -> list[Item]:
    """Every item, or for more than ``sample_above`` a random ``sample`` plus ``always`` and
    every RecordSet (there are few, and each holds many records)."""
    if len(items) <= sample_above:
        return list(items)
    keep = set(always)
    chosen = {i.entity_id for i in (rng or random.Random()).sample(items, min(sample, len(items)))}
    return [i for i in items if i.entity_id in chosen or i.entity_id in keep or i.record_set]


def compare_annotations(files: SynapseFiles, items: Iterable[Item]) -> tuple[dict[str, str], list[Finding]]:
    """Read each File's annotations back; (entity id -> etag read, mismatches)."""
    etags: dict[str, str] = {}
    findings: list[Finding] = []
    for item in items:
        if item.record_set or item.annotations is None:
            continue
        stored = api.get_annotations(files, item.entity_id)
        etags[item.entity_id] = stored["etag"]
        got, sent = plain(stored.get("annotations") or {}), plain(item.annotations)
        if got == sent:
            continue
        missing = sorted(set(sent) - set(got))
        extra = sorted(set(got) - set(sent))
        different = sorted(k for k in set(sent) & set(got) if sent[k] != got[k])
        parts = [f"{label}: {', '.join(keys[:10])}" for label, keys in
                 (("missing", missing), ("different", different), ("not in the manifest", extra)) if keys]
        findings.append(Finding(item.file, item.row, None, "verify.annotations_mismatch",
                                f"{item.entity_id}: Synapse's annotations differ from the manifest's ("
                                + "; ".join(parts) + "); re-run attach_metadata", component=item.component))
    return etags, findings


def validate(files: SynapseFiles, items: Iterable[Item], *, etags: dict[str, str] | None = None,
             deadline_s: float = 120.0, interval_s: float = 1.0,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> tuple[dict[str, bool], list[Finding]]:
    """Synapse's validation of each item, polled until it describes the entity's current etag.
    (entity id -> valid, findings: ``verify.schema_invalid``, ``verify.not_validated``)."""
    items = list(items)
    etags = dict(etags or {})
    for item in items:
        if item.entity_id not in etags:
            etags[item.entity_id] = api.get_entity(files, item.entity_id)["etag"]
    pending = {item.entity_id: item for item in items}
    valid: dict[str, bool] = {}
    findings: list[Finding] = []
    deadline = clock() + deadline_s
    while True:
        for entity_id, item in list(pending.items()):
            result = schemas.validation(files, entity_id)
            if result is None or result.get("objectEtag") != etags[entity_id]:
                continue
            del pending[entity_id]
            valid[entity_id] = bool(result.get("isValid"))
            if not valid[entity_id]:
                findings.extend(_invalid(item, result))
        if not pending or clock() >= deadline:
            break
        sleep(interval_s)
    for item in pending.values():
        findings.append(Finding(item.file, item.row, None, "verify.not_validated",
                                f"{item.entity_id}: Synapse had not validated it against its schema within "
                                f"{deadline_s:.0f} s (is a schema bound to it or its folder?); verify again later",
                                component=item.component))
    return valid, findings


def _invalid(item: Item, result: dict) -> list[Finding]:
    messages = list(result.get("allValidationMessages") or []) or [result.get("validationErrorMessage") or "invalid"]
    findings = []
    for message in messages[:MAX_MESSAGES_PER_ITEM]:
        row = item.row
        if item.record_set:
            match = _ROW_POINTER.match(str(message))
            row = int(match.group(1)) + 2 if match else None  # the RecordSet's CSV row (header = 1)
        findings.append(Finding(item.file, row, None, "verify.schema_invalid",
                                f"{item.entity_id}: {trimmed(message)}", component=item.component))
    if len(messages) > MAX_MESSAGES_PER_ITEM:
        findings.append(Finding(item.file, item.row, None, "verify.schema_invalid",
                                f"{item.entity_id}: {len(messages) - MAX_MESSAGES_PER_ITEM} more validation "
                                "message(s) not shown", component=item.component))
    return findings


def ensure_folder_binding(files: SynapseFiles, folder_id: str, schema_id: str) -> Finding | None:
    """Bind the component's schema to its leaf folder unless it already applies there (the DCC's
    job per HTAN.md; done here when the DCC has not, and the submitter may). A refusal or an
    unregistered schema is a finding: Synapse then validates nothing in that folder."""
    if schemas.bound_schema_id(schemas.get_binding(files, folder_id)) == schema_id:
        return None
    if not schemas.is_registered(files, schema_id):
        return Finding(folder_id, None, None, "metadata.schema_not_registered",
                       f"the schema {schema_id} is not registered in Synapse, so the files in {folder_id} cannot "
                       "be validated; the DCC registers it")
    try:
        schemas.bind(files, folder_id, schema_id)
    except Exception as exc:
        if http_status(exc) == 403:
            return Finding(folder_id, None, None, "metadata.schema_bind_refused",
                           f"not allowed to bind {schema_id} to folder {folder_id} (needs UPDATE there); ask the "
                           "DCC to bind the component's schema to this folder")
        raise
    return None
