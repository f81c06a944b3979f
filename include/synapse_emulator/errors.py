"""Synapse's error responses: a status code and a JSON body ``{"reason": ...}``.

Models raise these; the server turns them into responses, so the HTTP shape lives in one place.
"""

from __future__ import annotations


class SynapseError(Exception):
    """An error Synapse would return; ``status`` is the HTTP status code."""

    status = 500

    def __init__(self, reason: str, status: int | None = None, error_code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status
        self.error_code = error_code

    def body(self) -> dict:
        body: dict = {"reason": self.reason}
        if self.error_code:
            body["errorCode"] = self.error_code
        return body


class BadRequest(SynapseError):
    status = 400


class Unauthenticated(SynapseError):
    status = 401


class Forbidden(SynapseError):
    status = 403


class NotFound(SynapseError):
    status = 404


class Conflict(SynapseError):
    status = 409


class PreconditionFailed(SynapseError):
    status = 412


class NotReady(SynapseError):
    """An async job still running: Synapse answers 202 with an AsynchronousJobStatus body."""

    status = 202

    def __init__(self, job_status: dict):
        super().__init__("NotReady")
        self.job_status = job_status

    def body(self) -> dict:
        return self.job_status
