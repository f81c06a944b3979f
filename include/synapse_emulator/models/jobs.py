"""Synapse's asynchronous job protocol: ``POST .../async/start`` -> ``{token}``, then
``GET .../async/get/{token}`` answers 202 with a job status while running, 200 with the
response when done, and the job's own error status (400 unless it was a 403, 404...) when it failed.

The emulator runs each job at start (its work is small), so a poll finds it done; the job
record still keeps Synapse's shape so the client's polling code is exercised unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from synapse_emulator.errors import BadRequest, NotFound, SynapseError
from synapse_emulator.models import Backend
from synapse_emulator.models.common import now_iso


def start(backend: Backend, user: dict, kind: str, request: dict, work: Callable[[], dict]) -> dict:
    token = str(backend.state.next_id("job", 70001))
    job = {"jobId": token, "kind": kind, "startedByUserId": user["ownerId"], "startedOn": now_iso(),
           "requestBody": request, "jobState": "PROCESSING"}
    try:
        job["responseBody"] = work()
        job["jobState"] = "COMPLETE"
    except SynapseError as exc:
        job.update({"jobState": "FAILED", "errorMessage": exc.reason, "errorDetails": exc.reason,
                    "_status": exc.status})
    job["changedOn"] = now_iso()
    backend.state.put("job", token, job)
    return {"token": token}


def get(backend: Backend, user: dict, kind: str, token: str) -> dict:
    job = backend.state.get("job", token)
    if job is None or job["kind"] != kind or job["startedByUserId"] != user["ownerId"]:
        raise NotFound(f"No job found for token {token}")
    if job["jobState"] == "FAILED":
        # Synapse rethrows the worker's own exception (AsynchJobUtils.throwExceptionIfFailed), so a
        # 403 or 404 inside the job reaches the client as that status; anything else is a 400.
        raise SynapseError(job["errorMessage"], status=job.get("_status") or BadRequest.status)
    return job["responseBody"]
