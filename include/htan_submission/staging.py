"""Bring a batch's manifests from S3 to a local work folder (they are small), and describe its
data files (key, size) without reading them: what validation and the PHI scan work on.

Manifests are the spreadsheet files at the top of the batch prefix; data files live in
sub-folders (README, "Batch layout"). Data files are never downloaded here: image headers are
scrubbed in S3 by ranged reads, and the transfer streams them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from htan_submission.transfer.inventory import list_batch, manifest_keys
from htan_submission.transfer.keys import Batch, parse_batch_url
from htan_submission.validation.cross_rules import BatchFiles


@dataclass
class StagedBatch:
    batch: Batch
    manifests: list[tuple[Path, str]]  # local copy, name relative to the batch
    files: BatchFiles
    objects: int

    @property
    def url(self) -> str:
        return self.batch.url


def stage_batch(s3, batch_url: str, workdir: str | Path) -> StagedBatch:
    """List the batch (one paginated walk) and download its manifests into ``workdir``."""
    batch = parse_batch_url(batch_url)
    objects = list_batch(s3, batch)
    workdir = Path(workdir)
    manifests = []
    for key in manifest_keys(objects, batch):
        name = batch.relative(key)
        local = workdir / name
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.part")
        s3.download_file(batch.bucket, key, str(tmp))
        os.replace(tmp, local)
        manifests.append((local, name))
    sizes = {batch.relative(o.key): o.size for o in objects if o.key.startswith(batch.prefix)}
    return StagedBatch(batch=batch, manifests=manifests, files=BatchFiles(sizes, root=batch.url), objects=len(objects))


def upload_file(s3, batch: Batch, local: str | Path, name: str) -> str:
    """Replace one batch object with a local file (a single PUT: S3 swaps it atomically)."""
    key = batch.key(name)
    s3.upload_file(str(local), batch.bucket, key)
    return key
