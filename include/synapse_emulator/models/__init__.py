"""The emulator's state and the rules Synapse applies to it, free of HTTP.

``Backend`` bundles the JSON records (``State``), the bytes (``BlobStorage``) and settings; each
module here holds the functions of one resource family and takes the backend first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synapse_emulator.state import State
from synapse_emulator.storage import BlobStorage


@dataclass
class Backend:
    state: State
    blobs: BlobStorage
    s3_endpoint_url: str | None = None
    settings: dict = field(default_factory=dict)
