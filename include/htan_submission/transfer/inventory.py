"""What is in a batch: every object under its prefix, with size and ETag (no bytes read).

One paginated ListObjectsV2 walk; 1,000 keys per request, so a 100,000-file batch costs 100
requests. The ETag recorded here is what every later read insists on (``If-Match``).
"""

from __future__ import annotations

from htan_submission.transfer.keys import Batch
from htan_submission.transfer.s3 import S3Object, list_objects


def list_batch(client, batch: Batch) -> list[S3Object]:
    """Every object under the batch prefix, in key order."""
    return sorted(list_objects(client, batch.bucket, batch.prefix), key=lambda o: o.key)


MANIFEST_SUFFIXES = (".csv", ".tsv", ".xlsx")


def manifest_keys(objects: list[S3Object], batch: Batch) -> list[str]:
    """The batch's manifests: spreadsheet files at the top of the prefix (not in sub-folders),
    which is where centers put them; data files live in sub-folders."""
    return [o.key for o in objects
            if o.key.startswith(batch.prefix) and "/" not in batch.relative(o.key)
            and o.key.lower().endswith(MANIFEST_SUFFIXES)]
