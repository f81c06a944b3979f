"""Plans live next to the batch in S3, not in XCom: a 200,000-file plan is tens of MB, and XCom
must stay small (URIs and counts). Each chunk is one JSON object that a mapped transfer task
reads by URI; a re-run of the task reads the same chunk.

Layout: ``<batch prefix>_htan/plans/<safe run id>/chunk-00001.json`` beside ``_htan/signoff``
(outside the batch folder itself, so inventory and validation never see it).
"""

from __future__ import annotations

import json

from htan_submission.transfer.keys import Batch
from htan_submission.transfer.plan import Plan


def _safe(run_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in run_id)


def plan_prefix(batch: Batch, run_id: str) -> str:
    """Beside the batch folder: ``batches/b1/`` -> ``batches/_htan/plans/b1/<run>/``."""
    parent, _, name = batch.prefix.rstrip("/").rpartition("/")
    base = f"{parent}/" if parent else ""
    return f"{base}_htan/plans/{name or 'root'}/{_safe(run_id)}/"


def write_chunks(s3, plan: Plan, run_id: str) -> list[str]:
    """One object per chunk; returns their ``s3://`` URIs (what the mapped tasks expand over)."""
    prefix = plan_prefix(plan.batch, run_id)
    uris = []
    for number, chunk in enumerate(plan.chunks, start=1):
        key = f"{prefix}chunk-{number:05d}.json"
        s3.put_object(Bucket=plan.batch.bucket, Key=key, Body=json.dumps(chunk.to_dict()).encode(),
                      ContentType="application/json")
        uris.append(f"s3://{plan.batch.bucket}/{key}")
    return uris


def read_chunk(s3, uri: str) -> dict:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
