"""Decision records in S3, next to the batch: ``<batch prefix>_htan/signoff/<safe run id>/``.

Next to the batch, not inside it: the batch prefix ends with ``/``, so a listing of the batch
(inventory, validation, transfer) never sees ``<prefix>_htan/``. Durable and readable by anyone
who can read the batch, independent of Airflow's database: the audit trail outlives the run.

One object per decision, never rewritten: ``<UTC time>-airflow.json`` for a review-DAG decision,
``<UTC time>-synapse-<etag>.json`` for a decision seen on the report entity (the etag makes the
key the same however often the same state is seen, so two pollers write one object). Each
record is signed (:mod:`.signing`); a record that does not verify is listed with its problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from htan_submission.signoff.model import Decision, safe_segment
from htan_submission.signoff.signing import sign, verify

MAX_RECORD_BYTES = 64 * 1024
SIDECAR_SUFFIX = "_htan"


@dataclass(frozen=True)
class SignOffLocation:
    bucket: str
    prefix: str  # ends with "/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class StoredRecord:
    """One object under the location: its decision when it parses, and why it cannot count
    when it does not verify (``problem``)."""

    uri: str
    decision: Decision | None
    problem: str | None = None


def split_batch(batch: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> (``bucket``, ``a/b``), the prefix without its trailing slash."""
    if not batch.startswith("s3://"):
        raise ValueError(f"a batch is an s3:// URL, not {batch!r}")
    bucket, _, prefix = batch[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {batch!r}")
    return bucket, prefix.strip("/")


def same_batch(a: str, b: str) -> bool:
    try:
        return split_batch(a) == split_batch(b)
    except ValueError:
        return False


def signoff_location(batch: str, run_id: str) -> SignOffLocation:
    """Where the decisions on ``run_id``'s batch live. A batch at the bucket root keeps them in
    ``_htan/`` at the root."""
    if not run_id:
        raise ValueError("a sign-off needs the submission run id")
    bucket, prefix = split_batch(batch)
    return SignOffLocation(bucket, f"{prefix}{SIDECAR_SUFFIX}/signoff/{safe_segment(run_id)}/")


def record_name(decision: Decision) -> str:
    stamp = decision.when.strftime("%Y%m%dT%H%M%S.%fZ")
    if decision.source == "synapse":
        return f"{stamp}-synapse-{safe_segment(str(decision.ref.get('etag') or 'unknown'))[:36]}.json"
    return f"{stamp}-{safe_segment(decision.source)}.json"


def write_decision(s3, decision: Decision, key: bytes) -> str:
    """Sign and store one decision; returns its ``s3://`` URI."""
    where = signoff_location(decision.batch, decision.run_id)
    object_key = where.prefix + record_name(decision)
    body = json.dumps(sign(decision.to_dict(), key), indent=2, sort_keys=True).encode()
    s3.put_object(Bucket=where.bucket, Key=object_key, Body=body, ContentType="application/json")
    return f"s3://{where.bucket}/{object_key}"


def list_record_keys(s3, where: SignOffLocation) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.prefix):
        keys.extend(item["Key"] for item in page.get("Contents") or [] if item["Key"].endswith(".json"))
    return sorted(keys)


def read_record(s3, bucket: str, object_key: str, key: bytes) -> StoredRecord:
    uri = f"s3://{bucket}/{object_key}"
    response = s3.get_object(Bucket=bucket, Key=object_key)
    raw = response["Body"].read(MAX_RECORD_BYTES + 1)
    if len(raw) > MAX_RECORD_BYTES:
        return StoredRecord(uri, None, "larger than any decision record")
    try:
        body = json.loads(raw)
        decision = Decision.from_dict(body)
    except ValueError as exc:
        return StoredRecord(uri, None, f"not a decision record ({exc})")
    if not verify(body, key):
        return StoredRecord(uri, decision, "its signature does not verify (not written by the sign-off)")
    return StoredRecord(uri, decision)


def read_decisions(s3, batch: str, run_id: str, key: bytes,
                   cache: dict[str, StoredRecord] | None = None) -> list[StoredRecord]:
    """Every record of the run, oldest key first. Records are never rewritten, so ``cache``
    (object key -> record) lets a poller fetch each one once."""
    where = signoff_location(batch, run_id)
    records = []
    for object_key in list_record_keys(s3, where):
        record = cache.get(object_key) if cache is not None else None
        if record is None:
            record = read_record(s3, where.bucket, object_key, key)
            if cache is not None:
                cache[object_key] = record
        records.append(record)
    return records
