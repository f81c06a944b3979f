"""HMAC signatures on decision records.

Decision records live in the center's bucket, next to the batch, where submitters can write.
Without a signature, anyone who may write there could drop in ``{"who": "<a liaison>",
"decision": "approved"}``. Only code that holds the signing key (the review DAG's task and the
sign-off sensor/trigger, reading it from an Airflow connection) can write a record that
verifies; every other record is kept for the audit trail but never counts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_FIELD = "signature"


def _canonical(body: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != SIGNATURE_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: dict[str, Any], key: bytes) -> dict[str, Any]:
    """``body`` plus its signature (HMAC-SHA256 over the canonical JSON of everything else)."""
    if not key:
        raise ValueError("an empty signing key signs nothing")
    return {**body, SIGNATURE_FIELD: hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()}


def verify(body: dict[str, Any], key: bytes) -> bool:
    signature = body.get(SIGNATURE_FIELD)
    if not key or not isinstance(signature, str):
        return False
    return hmac.compare_digest(signature, hmac.new(key, _canonical(body), hashlib.sha256).hexdigest())
