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
        self.sent, failed = [], []
        for channel in center.notify.channels:
            try:
                _SENDERS[channel](self, center, subject, body)
                self.sent.append(channel)
            except Exception as exc:
                failed.append(channel)
                self.log.error("Could not notify the liaison of %s by %s: %s", center.center_id, channel,
                               type(exc).__name__)
        if failed and not self.sent:
            raise NotificationError(f"no channel delivered the sign-off message ({', '.join(failed)} failed)")


def _send_log(notifier: LiaisonNotifier, center, subject: str, body: str) -> None:
    notifier.log.info("Message for the liaison(s) of %s (%s):\n%s\n\n%s", center.center_id,
                      ", ".join(center.liaisons) or "none listed", subject, body)


def _send_email(notifier: LiaisonNotifier, center, subject: str, body: str) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=center.notify.smtp_conn_id) as hook:
        hook.send_email_smtp(to=list(center.notify.email), subject=subject,
                             html_content=f"<pre style=\"font-family:inherit\">{html.escape(body)}</pre>")


def _send_slack(notifier: LiaisonNotifier, center, subject: str, body: str) -> None:
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
