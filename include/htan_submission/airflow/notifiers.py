"""``LiaisonNotifier``: tells the center's liaison that a batch report waits for sign-off (or
that the wait timed out), through the channels centers.yaml lists for the center.

- ``log``: the message in the task log (the demo; and a record of what was sent).
- ``email``: Airflow's SMTP connection (``notify.smtp_conn_id``) to ``notify.email``.
- ``slack``: a POST to the incoming-webhook URL kept as the password (or host) of the Airflow
  connection ``notify.slack_webhook_conn_id``. The URL is a secret: it is never logged.

The text is built by ``signoff.notice`` (Airflow-free). A channel that fails is logged and the
others still run; only when every channel fails does the notifier raise.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

KINDS = ("ready", "timeout")


class NotificationError(Exception):
    """No channel delivered the message."""


class LiaisonNotifier(BaseNotifier):
    """Usable as a callback (``on_success_callback=LiaisonNotifier(...)``, fields rendered as
    templates) or from a task via :func:`notify_liaison` (values used as they are: a submitter's
    note is text, never a template). ``run_id`` defaults to the context's run."""

    template_fields: Sequence[str] = ("center_id", "batch", "report_url", "report_entity_id", "note", "run_id")

    def __init__(self, *, center_id: str, batch: str, report_url: str | None = None,
                 report_entity_id: str | None = None, counts: Mapping[str, object] | None = None, note: str = "",
                 kind: str = "ready", run_id: str | None = None, centers_file: str | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.center_id = center_id
        self.batch = batch
        self.report_url = report_url
        self.report_entity_id = report_entity_id
        self.counts = dict(counts or {})
        self.note = note
        self.kind = kind
        self.run_id = run_id
        self.centers_file = centers_file
        self.sent: list[str] = []

    def message(self, context: Any) -> tuple[str, str]:
        """(subject, body) for this center and run; no secrets in either."""
        from htan_submission.config import get_center
        from htan_submission.signoff.notice import Notice, ready_message, review_url, timeout_message

        center = get_center(self.center_id, self.centers_file)
        entity_url = _entity_url(center.synapse_conn_id, self.report_entity_id)
        notice = Notice(center_id=center.center_id, center_name=center.name, batch=self.batch,
                        run_id=self.run_id or str(context.get("run_id") or ""),
                        report_url=self.report_url or entity_url, review_url=review_url(_airflow_base_url()),
                        report_entity_url=entity_url, counts=self.counts, note=self.note or "",
                        timeout_days=center.signoff_timeout_days)
        return ready_message(notice) if self.kind == "ready" else timeout_message(notice)

    def notify(self, context: Any) -> None:
        from htan_submission.config import get_center

        center = get_center(self.center_id, self.centers_file)
        subject, body = self.message(context)
        audience = f"the liaison(s) of {center.center_id} ({', '.join(center.liaisons) or 'none listed'})"
        self.sent, failed = _deliver(self.log, center, subject, body, audience)
        if failed and not self.sent:
            raise NotificationError(f"no channel delivered the sign-off message ({', '.join(failed)} failed)")


def _deliver(log, center, subject: str, body: str, audience: str) -> tuple[list[str], list[str]]:
    """Send through every channel of the center's ``notify``; a failed channel is logged (by
    type only: an SMTP or webhook error may carry an address) and the others still run.
    Returns (channels that delivered, channels that failed)."""
    sent, failed = [], []
    for channel in center.notify.channels:
        try:
            _SENDERS[channel](log, center, subject, body, audience)
            sent.append(channel)
        except Exception as exc:
            failed.append(channel)
            log.error("Could not notify %s by %s: %s", audience, channel, type(exc).__name__)
    return sent, failed


def _send_log(log, center, subject: str, body: str, audience: str) -> None:
    log.info("Message for %s:\n%s\n\n%s", audience, subject, body)


def _send_email(log, center, subject: str, body: str, audience: str) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=center.notify.smtp_conn_id) as hook:
        hook.send_email_smtp(to=list(center.notify.email), subject=subject,
                             html_content=f"<pre style=\"font-family:inherit\">{html.escape(body)}</pre>")


def _send_slack(log, center, subject: str, body: str, audience: str) -> None:
    import httpx
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(center.notify.slack_webhook_conn_id)
    url = conn.password or conn.host or ""
    if not url.startswith("https://") and not url.startswith("http://"):
        raise ValueError("the Slack connection holds no webhook URL (password or host)")
    response = httpx.post(url, json={"text": f"*{subject}*\n{body}"}, timeout=15)
    if response.status_code >= 400:  # the URL is the secret: report the status only
        raise RuntimeError(f"Slack answered HTTP {response.status_code}")


_SENDERS = {"log": _send_log, "email": _send_email, "slack": _send_slack}


def _airflow_base_url() -> str | None:
    from airflow.sdk.configuration import conf

    return conf.get("api", "base_url", fallback=None) or None


def _entity_url(synapse_conn_id: str, entity_id: str | None) -> str | None:
    """The report entity in the Synapse web UI, from the connection's endpoint (no login)."""
    if not entity_id:
        return None
    from htan_submission.airflow.hooks import SynapseHook
    from htan_submission.synapse.reports import entity_url

    try:
        portal = SynapseHook(synapse_conn_id=synapse_conn_id).target().endpoints()["portalEndpoint"]
    except Exception:
        portal = "https://www.synapse.org/"
    return entity_url(portal, entity_id)


def notify_liaison(context: Any, *, center_id: str, batch: str, report_url: str | None = None,
                   report_entity_id: str | None = None, counts: Mapping[str, object] | None = None,
                   note: str = "", kind: str = "ready", centers_file: str | None = None) -> dict[str, Any]:
    """Send the message from inside a task (``notify_liaison(context, ...)``); returns what a task
    may put in XCom: the channels that delivered it and the subject."""
    notifier = LiaisonNotifier(center_id=center_id, batch=batch, report_url=report_url,
                               report_entity_id=report_entity_id, counts=counts, note=note, kind=kind,
                               centers_file=centers_file)
    notifier.notify(context)  # not notifier(context): these are values, never templates to render
    subject, _ = notifier.message(context)
    return {"channels": list(notifier.sent), "subject": subject}


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` of the center's DAGs: tells the center (its ``notify`` channels;
    the demo logs it) which step of which run failed, why, what to do (the task's own "When it
    fails"), and where the log and the reports are. Never raises: a failed notice must not hide
    the failure it reports."""

    template_fields: Sequence[str] = ("center_id",)

    def __init__(self, *, center_id: str, centers_file: str | None = None):
        super().__init__()
        self.center_id = center_id
        self.centers_file = centers_file
        self.sent: list[str] = []

    def message(self, context: Any) -> tuple[str, str]:
        from htan_submission.airflow.links import is_submission_dag, report_index_url
        from htan_submission.failure_notice import FailedStep, failure_message

        ti, task = context.get("ti"), context.get("task")
        dag_id = getattr(ti, "dag_id", "") or getattr(context.get("dag"), "dag_id", "")
        run_id = str(context.get("run_id") or getattr(ti, "run_id", ""))
        task_id = getattr(ti, "task_id", "") or getattr(task, "task_id", "")
        error = context.get("exception")
        params = context.get("params") or {}
        base = _airflow_base_url() or ""
        task_url = f"{base.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/" \
                   f"{quote(task_id, safe='')}" if base else None
        step = FailedStep(center_id=self.center_id, dag_id=dag_id, run_id=run_id, task_id=task_id,
                          try_number=int(getattr(ti, "try_number", 0) or 0), batch=str(params.get("batch") or ""),
                          error_type=type(error).__name__ if error is not None else "",
                          error_message=str(error) if error is not None else "",
                          task_doc=getattr(task, "doc_md", "") or "",
                          task_url=task_url,
                          report_url=report_index_url(dag_id, run_id, base) if is_submission_dag(dag_id) else None)
        return failure_message(step)

    def notify(self, context: Any) -> None:
        from htan_submission.config import get_center

        try:
            center = get_center(self.center_id, self.centers_file)
            subject, body = self.message(context)
            self.sent, _ = _deliver(self.log, center, subject, body, f"the submitters of {center.center_id}")
        except Exception as exc:  # never mask the task's own failure
            self.log.error("Could not build or send the failure notice: %s", type(exc).__name__)
