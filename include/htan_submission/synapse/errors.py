"""Errors of Synapse-bound steps, and scrubbing of secrets from any text we pass on.

A message from synapseclient can carry a URL or a server reason; none carries the token today,
but we never rely on that: every message leaving this package goes through ``scrub``.
"""

from __future__ import annotations

import re

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def scrub(text: str, *secrets: str | None) -> str:
    """Replace each secret, bearer header and JWT-looking string with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1***", text)
    return _JWT.sub("***", text)


class SynapseStepError(Exception):
    """A Synapse step failed in a way the user must fix; ``fix`` says how."""

    def __init__(self, step: str, message: str, fix: str | None = None):
        self.step = step
        self.fix = fix
        super().__init__(f"{step}: {message}" + (f" How to fix: {fix}" if fix else ""))
