"""PHI in image headers (TIFF family and DICOM): scan, and scrub in place or in S3.

Public entry points (what the CLI and the Airflow operator call):

- ``scan_images(paths) -> Report`` and ``scrub_images(paths, in_place, out_dir) -> Report``
  for local files and directories;
- ``scan_s3_object`` / ``scrub_s3_object(client, bucket, key) -> S3ScrubResult`` and
  ``scrub_s3_prefix(client, bucket, prefix, scan_only=False) -> Report`` for S3, reading only
  header ranges and writing by multipart upload with server-side copies.

Edits never change a file's length or move image data; see ``patches`` for why. Names are
resolved lazily so that importing the CLI wiring does not import pydicom.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "S3ScrubResult": "s3_scrub", "scan_s3_object": "s3_scrub", "scrub_s3_object": "s3_scrub",
    "scrub_s3_prefix": "s3_scrub", "detect_format": "scrub", "plan_source": "scrub", "scan_images": "scrub",
    "scrub_images": "scrub",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
