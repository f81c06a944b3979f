"""What every route needs: the backend, the caller (from the bearer token), the JSON body."""

from __future__ import annotations

import json

from fastapi import Request

from synapse_emulator.errors import BadRequest, Forbidden
from synapse_emulator.models import Backend, users

TOS_NOT_SIGNED = "Terms of use have not been signed."


def backend(request: Request) -> Backend:
    return request.app.state.backend


def caller(request: Request) -> dict:
    """The authenticated user; Synapse's ToS filter refuses /repo and /file calls of a user who
    must agree to the Terms of Service now (403)."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    user = users.user_by_token(request.app.state.backend, token)
    request.state.user_id = user["ownerId"]
    if not user["tos"] and not request.url.path.startswith("/auth/v1"):
        raise Forbidden(TOS_NOT_SIGNED)
    return user


async def json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"Could not parse the request body as JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
