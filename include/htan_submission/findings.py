"""One finding shape for every check: validation, cross-manifest rules, PHI scans, transfer.

A liaison reads findings in one report, so every step speaks the same language: where
(file, row, column), what (a stable dotted ``rule``), how bad (``severity``) and how to fix it
(``message``). A finding never carries a cell's value when that value could be PHI; at most a
masked form from :func:`mask_value`, and never more than 40 characters of any value
(:func:`show_value`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

SEVERITIES = ("error", "warning")
MAX_SHOWN_CHARS = 40
# Shapes that may be PHI (a date, an e-mail address, a bare long number such as an MRN, a phone
# number): a validation message that must echo a cell shows these masked. Codes such as
# UBERON:0002107 or HTA200_1_B1 (digits after a letter, colon or underscore) stay readable.
SENSITIVE = re.compile(r"@|(?<![A-Za-z:_.\d])\d{6,}|\d{3}[\s().-]{1,2}\d{3}[\s.-]\d{4}|\d{3}-\d{2}-\d{4}"
                       r"|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
FIELDS = ("severity", "component", "file", "row", "column", "rule", "message")


@dataclass(frozen=True, order=True)
class Finding:
    """One problem. ``row`` is a spreadsheet row (header = 1); ``row``/``column`` are None for
    file-level findings."""

    file: str
    row: int | None
    column: str | None
    rule: str
    message: str
    severity: str = "error"
    component: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def to_dict(self) -> dict:
        return {k: asdict(self)[k] for k in FIELDS}

    def log_line(self) -> str:
        """One line for a task log: severity, where (file, row, column when known), rule, message."""
        where = " ".join(part for part in (self.file, f"row {self.row}" if self.row is not None else "",
                                           f"column {self.column}" if self.column else "") if part)
        return f"{self.severity} {where} [{self.rule}] {self.message}"


@dataclass
class Report:
    """Findings plus a summary; what the CLI prints and the DAG stores next to the batch."""

    findings: list[Finding] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.file, f.row or 0, f.column or "", f.rule, f.message))

    def summary(self) -> dict:
        return {
            "inputs": len(self.inputs),
            "errors": self.errors,
            "warnings": self.warnings,
            "by_rule": dict(sorted(Counter(f.rule for f in self.findings).items())),
            "by_file": dict(sorted(Counter(f.file for f in self.findings).items())),
            **self.extra,
        }

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "findings": [f.to_dict() for f in self.sorted_findings()]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for f in self.sorted_findings():
            writer.writerow(f.to_dict())
        return out.getvalue()

    def write(self, json_path: str | Path | None = None, csv_path: str | Path | None = None) -> None:
        if json_path:
            Path(json_path).write_text(self.to_json())
        if csv_path:
            Path(csv_path).write_text(self.to_csv())


def log_findings(log, findings: Iterable[Finding], limit: int = 50) -> None:
    """The first ``limit`` findings into a task log (the report has them all)."""
    for finding in list(findings)[:limit]:
        log.info("%s", finding.log_line())


def mask_value(value: str) -> str:
    """Keep the first character and the punctuation, star out every letter and digit.

    ``2019-03-04`` -> ``2***-**-**``: enough for a person to recognise the *shape* of what was
    found, nothing that identifies anyone.
    """
    value = str(value)[:MAX_SHOWN_CHARS]
    if not value:
        return value
    return value[0] + "".join("*" if ch.isalnum() else ch for ch in value[1:])


def show_value(value: object) -> str:
    """A non-PHI value as it may appear in a message: quoted, cut to 40 characters."""
    text = str(value)
    if len(text) > MAX_SHOWN_CHARS:
        return repr(text[: MAX_SHOWN_CHARS - 1] + "…")
    return repr(text)


def safe_value(value: object) -> str:
    """A cell value as a validation message may show it: masked when it looks like PHI."""
    text = str(value)
    return repr(mask_value(text)) if SENSITIVE.search(text) else show_value(text)
