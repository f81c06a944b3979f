"""Bulk transfer of a batch's data files from the center's S3 prefix into Synapse.

``plan_batch`` lists the batch and joins it with the manifests' FILENAME references into
chunks (small, JSON-serialisable); ``transfer_chunk`` moves one chunk, in ``index`` mode
(zero-copy: S3 file handles on the center's registered bucket) or ``copy`` mode (streamed into
Synapse storage through its multipart upload), and returns a ``ChunkResult`` (counts, findings,
entity ids). ``register_storage`` is the one-time set-up index mode needs. Every call is safe to
repeat: re-running any of them after a failure or a kill converges on each file present once.

The names below load on first use (PEP 562), so ``htan-submit`` and DAG files that only import
``transfer.cli`` stay light; nothing here imports boto3 or synapseclient at module level.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Batch": "keys", "parse_batch_url": "keys",
    "Chunk": "plan", "FileRef": "plan", "Plan": "plan", "PlannedFile": "plan", "build_plan": "plan",
    "plan_batch": "plan",
    "ChunkResult": "run", "FileOutcome": "run", "TransferOptions": "run", "TransferTarget": "run",
    "transfer_chunk": "run",
    "StorageRegistration": "storage", "register_storage": "storage",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
