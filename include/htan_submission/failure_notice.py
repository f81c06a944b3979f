"""What a center hears when a step of its submission run fails: which run, which step, why, what
to do, and where the log and the reports are. Airflow-free (``airflow.notifiers.FailureNotifier``
sends it).

Why: only our own refusals (``AirflowFailException``, whose messages the package words without
PHI or secrets: file, row, column, kind) are quoted. Any other exception is named by its type
only: a library's message may carry a URL, a header or a value we do not control.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OWN_REFUSALS = ("AirflowFailException", "AirflowSensorTimeout")
MAX_REASON_CHARS = 600
_WHEN_IT_FAILS = re.compile(r"\*\*When it fails\*\*:?\s*(.+?)(?:\n\s*\n|\Z)", re.S)


@dataclass(frozen=True)
class FailedStep:
    center_id: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    batch: str
    error_type: str
    error_message: str
    task_doc: str
    task_url: str | None
    report_url: str | None


def reason(step: FailedStep) -> str:
    if step.error_type in OWN_REFUSALS and step.error_message.strip():
        text = " ".join(step.error_message.split())
        return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 1] + "…"
    return f"{step.error_type or 'an error'} (the task log has the details)"


def what_to_do(task_doc: str) -> str:
    """The task's own "**When it fails**" advice (every task's ``doc_md`` has one)."""
    found = _WHEN_IT_FAILS.search(task_doc or "")
    return " ".join(found.group(1).split()) if found else "Read the task log; re-run the step once it is fixed."


def failure_message(step: FailedStep) -> tuple[str, str]:
    """(subject, body) for the center's channels."""
    subject = f"[HTAN {step.center_id}] {step.dag_id}: {step.task_id} failed"
    lines = [f"The run {step.run_id} of {step.dag_id} stopped at {step.task_id} (try {step.try_number}).",
             f"Batch: {step.batch or '(not known)'}", "", f"Why: {reason(step)}", "",
             f"What to do: {what_to_do(step.task_doc)}"]
    if step.task_url:
        lines += ["", f"The task and its log: {step.task_url}"]
    if step.report_url:
        lines.append(f"The run's reports: {step.report_url}")
    return subject, "\n".join(lines)
