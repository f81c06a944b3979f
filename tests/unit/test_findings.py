"""``Finding.log_line`` and ``log_findings``: what a task log shows of the findings."""

from htan_submission.findings import Finding, log_findings


def test_a_log_line_says_where_and_only_the_first_findings_are_logged():
    import logging

    cell = Finding(file="a.csv", row=3, column="AGE", rule="schema.type", message="not a number")
    whole = Finding(file="b.csv", row=None, column=None, rule="read.encoding", message="Latin-1", severity="warning")
    assert cell.log_line() == "error a.csv row 3 column AGE [schema.type] not a number"
    assert whole.log_line() == "warning b.csv [read.encoding] Latin-1"
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    log = logging.getLogger("test.log_findings")
    log.setLevel(logging.INFO)
    log.addHandler(Collect())
    log_findings(log, [cell, whole] * 30, limit=50)
    assert len(lines) == 50 and lines[:2] == [cell.log_line(), whole.log_line()]
