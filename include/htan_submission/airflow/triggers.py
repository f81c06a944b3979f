"""``LiaisonSignOffTrigger``: waits in the triggerer for the liaison's decision on one batch run.

Lives in the installed package because the triggerer does not load DAG bundles. While it waits
no worker slot is held: each poll (every ``poll_interval`` seconds, 60 by default, fractions of
a second in tests) runs the same sync check as the sensor's first poke
(``signoff.watch.SignOffWatcher.poll``: S3 records + the report entity's annotations) in a thread,
so the triggerer's event loop never blocks on boto3 or synapseclient.

It fires one event and ends: ``approved`` or ``rejected`` (with the decision that stands),
``timeout`` at ``deadline``, or ``error`` when it cannot work at all (no signing key). A failed
poll (S3 or Synapse down for a while) is logged and tried again: a 14-day wait must not die of
one 503 (it is logged when it starts, not on every poll). Ignored attempts (not a liaison,
unsigned record...) are logged once each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from htan_submission.signoff.evaluate import Evaluation
from htan_submission.signoff.model import iso, parse_when, utcnow
from htan_submission.signoff.watch import SignOffRequest, SignOffWatcher

CLASSPATH = "htan_submission.airflow.triggers.LiaisonSignOffTrigger"
MAX_IGNORED_IN_EVENT = 20


class SignOffSetupError(Exception):
    """The sign-off cannot run at all (missing key connection); retrying will not help."""


def signing_key(conn_id: str) -> bytes:
    """The HMAC key of decision records: the password of an Airflow connection (masked in logs
    by Airflow; never logged, returned or put in XCom here)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        secret = BaseHook.get_connection(conn_id).password
    except AirflowNotFoundException:
        secret = None
    if not secret:
        raise SignOffSetupError(
            f"Airflow connection {conn_id!r} with a password is needed to sign and check sign-off decisions: "
            "create it (type generic) with a long random password, e.g. `python -c \"import secrets; "
            "print(secrets.token_urlsafe(32))\"`, and keep it the same for the review DAG and the sensor.")
    return secret.encode()


def s3_client(aws_conn_id: str | None):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def synapse_gateway(synapse_conn_id: str):
    from htan_submission.airflow.hooks import SynapseHook

    return SynapseHook(synapse_conn_id=synapse_conn_id).get_conn()


def build_watcher(request: SignOffRequest, *, aws_conn_id: str | None, signing_conn_id: str) -> SignOffWatcher:
    """A watcher without Synapse yet (``attach_synapse`` logs in): S3 and the key are required."""
    return SignOffWatcher(request=request, s3=s3_client(aws_conn_id), key=signing_key(signing_conn_id))


def attach_synapse(watcher: SignOffWatcher, synapse_conn_id: str | None) -> str | None:
    """Log in to Synapse for the report-entity route if it is wanted and not done yet; returns a
    problem (without secrets) when login fails, so the caller can log it and try again later."""
    if watcher.synapse is not None or not synapse_conn_id or not watcher.request.report_entity_id:
        return None
    try:
        watcher.synapse = synapse_gateway(synapse_conn_id)
    except Exception as exc:  # SynapseStepError messages are already scrubbed of the token
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


def event_payload(evaluation: Evaluation) -> dict[str, Any]:
    """A small, JSON-only event: the decision that stands and the ignored attempts' summaries."""
    standing = evaluation.accepted
    payload: dict[str, Any] = {"status": evaluation.outcome,
                               "ignored": [v.summary() for v in evaluation.ignored][-MAX_IGNORED_IN_EVENT:]}
    if standing is not None:
        payload.update({"decision": standing.decision.to_dict(), "record": standing.uri})
    return payload


class LiaisonSignOffTrigger(BaseTrigger):
    """Polls both sign-off routes until a liaison decides or ``deadline`` (ISO, UTC) passes."""

    def __init__(self, *, request: dict[str, Any], deadline: str, poll_interval: float = 60.0,
                 aws_conn_id: str | None = "aws_default", synapse_conn_id: str | None = None,
                 signing_conn_id: str = "htan_signoff"):
        super().__init__()
        self.request = dict(request)
        self.deadline = deadline
        self.poll_interval = float(poll_interval)
        self.aws_conn_id = aws_conn_id
        self.synapse_conn_id = synapse_conn_id
        self.signing_conn_id = signing_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"request": dict(self.request), "deadline": self.deadline,
                           "poll_interval": self.poll_interval, "aws_conn_id": self.aws_conn_id,
                           "synapse_conn_id": self.synapse_conn_id, "signing_conn_id": self.signing_conn_id}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = parse_when(self.deadline)
        request = SignOffRequest.from_dict(self.request)
        try:
            watcher = await asyncio.to_thread(build_watcher, request, aws_conn_id=self.aws_conn_id,
                                              signing_conn_id=self.signing_conn_id)
        except SignOffSetupError as exc:
            yield TriggerEvent({"status": "error", "message": str(exc)})
            return
        self.log.info("Waiting for a liaison of %s (%s) to decide on %s (run %s) until %s",
                      request.center_id, ", ".join(request.liaisons), request.batch, request.run_id, self.deadline)
        last_problem: str | None = None
        last_failure: str | None = None
        last = Evaluation(())
        while True:
            problem = await asyncio.to_thread(attach_synapse, watcher, self.synapse_conn_id)
            if problem and problem != last_problem:
                self.log.warning("Synapse route unavailable for now (%s); checking S3 decisions", problem)
            last_problem = problem
            try:
                evaluation = await asyncio.to_thread(watcher.poll)
            except Exception as exc:  # logged when it changes, not every poll of a long outage
                failure = type(exc).__name__
                if failure != last_failure:
                    self.log.warning("sign-off check failed (%s); trying again every %ss", failure, self.poll_interval)
                last_failure = failure
            else:
                last, last_failure = evaluation, None
                for verdict in watcher.new_ignored(evaluation):
                    self.log.warning("Ignored sign-off attempt: %s", verdict.summary())
                if evaluation.accepted is not None:
                    self.log.info("Decision: %s", evaluation.accepted.summary())
                    yield TriggerEvent(event_payload(evaluation))
                    return
            remaining = (deadline - utcnow()).total_seconds()
            if remaining <= 0:
                yield TriggerEvent({"status": "timeout", "deadline": self.deadline,
                                    "ignored": [v.summary() for v in last.ignored][-MAX_IGNORED_IN_EVENT:]})
                return
            await asyncio.sleep(min(self.poll_interval, remaining))


def deadline_after(seconds: float) -> str:
    from datetime import timedelta

    return iso(utcnow() + timedelta(seconds=seconds))
