"""Small helpers shared by the model modules: Synapse timestamps, etags, ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

ROOT_ENTITY_ID = "syn4489"  # Synapse's root: the parent of every project
PUBLIC_GROUP = 273949
AUTHENTICATED_USERS_GROUP = 273948


def now_iso() -> str:
    """Synapse's timestamp format: ISO-8601 in UTC with milliseconds and a ``Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_etag() -> str:
    return str(uuid.uuid4())


def syn_id(number: int) -> str:
    return f"syn{number}"


def parse_syn_id(value: str) -> str:
    """Accept ``syn123``, ``SYN123`` or ``123`` and return ``syn123`` (Synapse does the same)."""
    value = str(value).strip()
    if value.lower().startswith("syn"):
        value = value[3:]
    if "." in value:
        value = value.split(".", 1)[0]
    return f"syn{value}"


def public(record: dict) -> dict:
    """A record without the emulator's private fields (those starting with ``_``)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
