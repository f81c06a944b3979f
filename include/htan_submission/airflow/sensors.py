"""``LiaisonSignOffSensor``: the submission waits here for the center's liaison to decide.

Pokes once on the worker (a decision made before the report step finished is found at once),
then defers to ``LiaisonSignOffTrigger``: the wait (14 days by default, ``signoff_timeout_days``
in centers.yaml) holds no worker slot. The outcome:

- **approved**: the task succeeds and returns the decision (who, when, comment, route, record).
- **rejected**: ``AirflowFailException`` with the liaison's comment: no retry, the center must
  fix the batch and submit again.
- **timeout**: the liaison is told (``LiaisonNotifier``, kind ``timeout``) and the task fails
  with ``AirflowSensorTimeout`` (no retry either).
- a decision by anyone not in the center's ``liaisons`` is ignored and logged as an attempt; it
  stays in the audit trail (``htan_submission.signoff.read_audit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

DEFAULT_TIMEOUT_DAYS = 14.0


def _timeout_days(center_id: str, centers_file: str | None) -> float:
    """The center's ``signoff_timeout_days`` (read at parse time: centers.yaml is the small config
    DAG files may read); the default when the center id is a template or unknown."""
    from htan_submission.config import ConfigError, get_center

    try:
        return get_center(center_id, centers_file).signoff_timeout_days
    except ConfigError:
        return DEFAULT_TIMEOUT_DAYS


class LiaisonSignOffSensor(BaseSensorOperator):
    """Waits for an approved/rejected decision on this run's batch by a liaison of ``center_id``.

    :param batch: the batch's ``s3://`` URI (templated); decisions live next to it.
    :param report_entity_id: the report's File entity in Synapse (templated, e.g. from the report
        task's XCom); empty = only the Airflow review route is watched.
    :param report_url: link to the report, for the timeout message (templated).
    :param poll_interval: seconds between checks in the triggerer (fractions allowed).
    :param timeout: seconds or timedelta; default: the center's ``signoff_timeout_days``.
    :param aws_conn_id / synapse_conn_id / signing_conn_id: default to the center's settings.
    """

    template_fields: Sequence[str] = ("center_id", "batch", "report_entity_id", "report_url")
    ui_color = "#d5f5e3"

    def __init__(self, *, center_id: str, batch: str, report_entity_id: str | None = None,
                 report_url: str | None = None, poll_interval: float = 60.0,
                 timeout: timedelta | float | None = None, aws_conn_id: str | None = None,
                 synapse_conn_id: str | None = None, signing_conn_id: str | None = None,
                 centers_file: str | None = None, notify_on_timeout: bool = True, **kwargs: Any):
        if timeout is None:
            timeout = timedelta(days=_timeout_days(center_id, centers_file))
        super().__init__(poke_interval=poll_interval, timeout=timeout, **kwargs)
        self.center_id = center_id
        self.batch = batch
        self.report_entity_id = report_entity_id
        self.report_url = report_url
        self.poll_interval = float(poll_interval)
        self.aws_conn_id = aws_conn_id
        self.synapse_conn_id = synapse_conn_id
        self.signing_conn_id = signing_conn_id
        self.centers_file = centers_file
        self.notify_on_timeout = notify_on_timeout

    # -- the parts --------------------------------------------------------------------------------
    def _center(self):
        from htan_submission.config import get_center

        center = get_center(self.center_id, self.centers_file)
        if not center.liaisons:
            raise AirflowFailException(f"centers.yaml lists no liaisons for {center.center_id}: nobody could "
                                       "sign off; add the liaisons' Synapse/Airflow user names")
        return center

    def _request(self, context: Any, center):
        from htan_submission.signoff.watch import SignOffRequest

        return SignOffRequest(center_id=center.center_id, batch=self.batch, run_id=str(context["run_id"]),
                              liaisons=center.liaisons, report_entity_id=(self.report_entity_id or "").strip() or None)

    def _conn_ids(self, center) -> dict[str, str | None]:
        return {"aws_conn_id": self.aws_conn_id or center.aws_conn_id,
                "synapse_conn_id": self.synapse_conn_id or center.synapse_conn_id,
                "signing_conn_id": self.signing_conn_id or center.signoff_key_conn_id}

    def _look(self, context: Any) -> dict[str, Any]:
        """One check of both routes on the worker; returns the trigger's kind of event."""
        from htan_submission.airflow.triggers import SignOffSetupError, attach_synapse, build_watcher, event_payload

        center = self._center()
        conns = self._conn_ids(center)
        try:
            watcher = build_watcher(self._request(context, center), aws_conn_id=conns["aws_conn_id"],
                                    signing_conn_id=conns["signing_conn_id"])
        except SignOffSetupError as exc:
            raise AirflowFailException(str(exc)) from None
        problem = attach_synapse(watcher, conns["synapse_conn_id"])
        if problem:
            self.log.warning("Synapse route unavailable for this check (%s); the trigger tries again", problem)
        evaluation = watcher.poll()
        for verdict in watcher.new_ignored(evaluation):
            self.log.warning("Ignored sign-off attempt: %s", verdict.summary())
        return event_payload(evaluation)

    # -- the sensor -------------------------------------------------------------------------------
    def poke(self, context: Any) -> bool:
        """True once approved; a rejection raises (no retry). For the non-deferred path."""
        event = self._look(context)
        if event["status"] is None:
            return False
        self._finish(context, event)
        return True

    def execute(self, context: Any) -> dict[str, Any] | None:
        event = self._look(context)
        if event["status"] is not None:
            return self._finish(context, event)
        from htan_submission.airflow.triggers import LiaisonSignOffTrigger, deadline_after

        center = self._center()
        request = self._request(context, center)
        self.log.info("No decision yet on %s (run %s); deferring for up to %.1f days (poll every %ss)",
                      request.batch, request.run_id, self.timeout / 86400, self.poll_interval)
        # The trigger owns the deadline (so a timeout can notify); Airflow's own deferral timeout
        # is a later safety net for a trigger that died.
        grace = max(300.0, 3 * self.poll_interval)
        self.defer(
            trigger=LiaisonSignOffTrigger(request=request.to_dict(), deadline=deadline_after(self.timeout),
                                          poll_interval=self.poll_interval, **self._conn_ids(center)),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + grace),
        )
        return None

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any] | None:
        for attempt in event.get("ignored") or []:
            self.log.warning("Ignored sign-off attempt: %s", attempt)
        return self._finish(context, event)

    def _finish(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        status = event.get("status")
        if status in ("approved", "rejected"):
            self._record_audit(context)
        if status == "approved":
            d = event["decision"]
            self.log.info("Approved by %s via %s at %s%s", d["who"], d["source"], d["when"],
                          f": {d['comment']}" if d.get("comment") else "")
            return {"decision": "approved", "who": d["who"], "when": d["when"], "source": d["source"],
                    "comment": d.get("comment") or "", "record": event.get("record")}
        if status == "rejected":
            d = event["decision"]
            raise AirflowFailException(f"Batch rejected by {d['who']} via {d['source']} at {d['when']}: "
                                       f"{d.get('comment') or '(no comment)'}")
        if status == "timeout":
            self._notify_timeout(context)
            raise AirflowSensorTimeout(f"No liaison of {self.center_id} decided on {self.batch} before "
                                       f"{event.get('deadline')}; submit the batch again when it can be reviewed")
        raise AirflowFailException(event.get("message") or f"sign-off failed: unexpected event {status!r}")

    def _record_audit(self, context: Any) -> None:
        """Put every decision on this run (accepted or ignored: who, when, what) into the batch
        report. The records stay in S3 whatever happens here, so a failure only warns."""
        from htan_submission.airflow.triggers import s3_client, signing_key
        from htan_submission.reports.batch import run_report_dir
        from htan_submission.reports.combined import write_audit, write_batch_report
        from htan_submission.signoff import read_audit

        try:
            center = self._center()
            conns = self._conn_ids(center)
            rows = read_audit(s3_client(conns["aws_conn_id"]), self._request(context, center),
                              signing_key(conns["signing_conn_id"]))
            run_dir = run_report_dir(context["dag"].dag_id, context["run_id"])
            write_audit(run_dir, rows)
            write_batch_report(run_dir, title=f"{self.center_id} batch {self.batch}")
        except Exception as exc:  # the decision stands; only the report misses its audit rows
            self.log.warning("Could not add the audit trail to the batch report (%s); the decisions are "
                             "kept in S3 next to the batch", type(exc).__name__)
            return
        self.log.info("Audit trail (%d decisions) added to the batch report", len(rows))

    def _notify_timeout(self, context: Any) -> None:
        if not self.notify_on_timeout:
            return
        from htan_submission.airflow.notifiers import notify_liaison

        try:
            notify_liaison(context, center_id=self.center_id, batch=self.batch, report_url=self.report_url,
                           report_entity_id=self.report_entity_id or None, kind="timeout",
                           centers_file=self.centers_file)
        except Exception as exc:  # the timeout is the news; a failed message must not hide it
            self.log.error("Could not send the timeout message: %s", type(exc).__name__)
