"""``LiaisonNotifier`` / ``notify_liaison``: the liaison's message goes out on the center's
channels (log; Slack to a local webhook; e-mail through the SMTP hook), one failing channel does
not stop the others, and neither the webhook URL nor a submitter's template text leaks."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from htan_submission.airflow.notifiers import LiaisonNotifier, NotificationError, notify_liaison

RUN = "manual__2026-01-05T10:00:00+00:00"
BATCH = "s3://bucket/batches/b1/"


@pytest.fixture
def centers(tmp_path, monkeypatch):
    """Write centers.yaml with the given notify settings; returns the writer."""
    path = tmp_path / "centers.yaml"

    def write(notify: dict) -> str:
        path.write_text(yaml.safe_dump({"centers": {"HTA200": {
            "name": "Demo", "synapse_project_id": "syn1", "s3": {"bucket": "b"}, "liaisons": ["demo_liaison"],
            "notify": notify}}}))
        return str(path)

    monkeypatch.setenv("HTAN_CENTERS_FILE", str(path))
    monkeypatch.setenv("AIRFLOW_CONN_SYNAPSE_DEFAULT", json.dumps(
        {"conn_type": "synapse", "host": "http://synapse.test", "password": "tok-never-shown"}))
    return write


@pytest.fixture
def webhook(monkeypatch):
    """A local HTTP endpoint for Slack's incoming webhook; ``status`` sets its answer."""
    state = {"posted": [], "status": 200}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            state["posted"].append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/webhook-secret-part"
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_HTA200", json.dumps({"conn_type": "generic", "password": state["url"]}))
    yield state
    server.shutdown()
    thread.join(timeout=10)


def _notify(**kwargs):
    kwargs.setdefault("note", "first batch")
    return notify_liaison({"run_id": RUN}, center_id="HTA200", batch=BATCH, report_entity_id="syn123",
                          counts={"manifests": 5, "data_files": 12, "errors": 0}, **kwargs)


def _logged(capfd, caplog) -> str:
    out, err = capfd.readouterr()
    return out + err + caplog.text


def test_log_channel_carries_the_whole_message(centers, monkeypatch, capfd, caplog):
    centers({"channels": ["log"]})
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org")
    caplog.set_level("INFO")
    result = _notify()
    assert result == {"channels": ["log"], "subject": "[HTAN HTA200] batch report ready for your sign-off"}
    logged = _logged(capfd, caplog)
    for text in (BATCH, RUN, "http://synapse.test/Synapse:syn123", "https://airflow.example.org/dags/htan_liaison_review",
                 "manifests: 5", "data files: 12", "first batch", "liaison_decision", "demo_liaison"):
        assert text in logged, text
    assert "tok-never-shown" not in logged


def test_slack_posts_the_message_and_a_failure_neither_stops_the_log_nor_shows_the_url(centers, webhook, capfd,
                                                                                         caplog):
    centers({"channels": ["log", "slack"], "slack_webhook_conn_id": "slack_hta200"})
    assert _notify()["channels"] == ["log", "slack"]
    [posted] = webhook["posted"]
    assert posted["text"].startswith("*[HTAN HTA200] batch report ready") and RUN in posted["text"]
    webhook["status"] = 500
    assert _notify()["channels"] == ["log"]
    assert "webhook-secret-part" not in _logged(capfd, caplog)


def test_every_channel_failing_raises_without_the_url(centers, webhook, capfd, caplog):
    centers({"channels": ["slack"], "slack_webhook_conn_id": "slack_hta200"})
    webhook["status"] = 403
    with pytest.raises(NotificationError, match="slack failed") as failed:
        _notify(kind="timeout")
    assert "webhook-secret-part" not in str(failed.value) + _logged(capfd, caplog)
    assert "sign-off timed out" in webhook["posted"][0]["text"]


def test_email_goes_through_the_smtp_hook_to_the_centers_addresses(centers, monkeypatch):
    """The SMTP hook itself is Airflow's (tested there); here: who gets what, through which connection."""
    sent = []

    class FakeSmtpHook:
        def __init__(self, smtp_conn_id):
            self.conn_id = smtp_conn_id

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def send_email_smtp(self, **kwargs):
            sent.append((self.conn_id, kwargs))

    monkeypatch.setattr("airflow.providers.smtp.hooks.smtp.SmtpHook", FakeSmtpHook)
    centers({"channels": ["email"], "email": ["liaison@example.org"], "smtp_conn_id": "smtp_dcc"})
    assert _notify(note="<b>urgent</b>")["channels"] == ["email"]
    [(conn_id, message)] = sent
    assert conn_id == "smtp_dcc" and message["to"] == ["liaison@example.org"]
    assert "&lt;b&gt;urgent&lt;/b&gt;" in message["html_content"]  # the note is text, not markup


def test_a_submitters_note_is_never_rendered_as_a_template(centers, capfd, caplog):
    centers({"channels": ["log"]})
    caplog.set_level("INFO")
    _notify(note="{{ conn.synapse_default.password }} {{ 6 * 7 }}")
    logged = _logged(capfd, caplog)
    assert "{{ conn.synapse_default.password }} {{ 6 * 7 }}" in logged and "tok-never-shown" not in logged


def test_as_a_callback_its_fields_render_from_the_context(centers):
    centers({"channels": ["log"]})
    notifier = LiaisonNotifier(center_id="HTA200", batch="{{ params.batch }}")
    notifier({"run_id": RUN, "params": {"batch": BATCH}})
    assert notifier.batch == BATCH and notifier.sent == ["log"]
    with pytest.raises(ValueError, match="kind"):
        LiaisonNotifier(center_id="HTA200", batch=BATCH, kind="reminder")
