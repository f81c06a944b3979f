"""Grid sessions over RecordSets (async jobs) and their look-ups: what a RecordSet's validation
results come from."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from synapse_emulator.models import Backend, grids, jobs
from synapse_emulator.routes.deps import backend, caller, json_body

router = APIRouter(prefix="/repo/v1")
_CREATE = "grid/session"
_EXPORT = "grid/export/recordset"
_SYNCHRONIZE = "grid/synchronize"


@router.post("/grid/session/async/start", status_code=201)
def start_session(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return jobs.start(b, user, _CREATE, body, lambda: grids.create_session(b, user, body))


@router.get("/grid/session/async/get/{token}")
def get_session_job(token: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return jobs.get(b, user, _CREATE, token)


@router.post("/grid/export/recordset/async/start", status_code=201)
def start_export(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return jobs.start(b, user, _EXPORT, body, lambda: grids.export(b, user, body))


@router.get("/grid/export/recordset/async/get/{token}")
def get_export_job(token: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return jobs.get(b, user, _EXPORT, token)


@router.post("/grid/synchronize/async/start", status_code=201)
def start_synchronize(body: dict = Depends(json_body), user: dict = Depends(caller),
                      b: Backend = Depends(backend)) -> dict:
    return jobs.start(b, user, _SYNCHRONIZE, body, lambda: grids.synchronize(b, user, body))


@router.get("/grid/synchronize/async/get/{token}")
def get_synchronize_job(token: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return jobs.get(b, user, _SYNCHRONIZE, token)


@router.post("/grid/session/list")
def list_sessions(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return grids.list_sessions(b, user, body)


@router.get("/grid/session/{session_id}")
def get_session(session_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return grids.get_session(b, user, session_id)


@router.delete("/grid/session/{session_id}", status_code=204)
def delete_session(session_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> Response:
    grids.delete_session(b, user, session_id)
    return Response(status_code=204)
