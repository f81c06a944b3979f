"""One self-contained HTML page for a batch: what a data liaison reads before signing off.

Self-contained because it travels: an Airflow link, an e-mail attachment, a file on a laptop
without network. So: inline CSS, no script, no external asset (collapsing is the native
``<details>`` element). Everything shown comes from :class:`~htan_submission.findings.Finding`
fields, the section's notes and the audit rows, and all of it goes through ``html.escape``:
a manifest cell such as ``<script>`` reaches the page as text.

Layout: a header (batch title, generated time), a summary table (errors and warnings per
section and file), then each section's findings grouped by file, then by column, then by rule.
A rule that fails on many rows of one column (5,000 rows missing the same value) shows its
first rows and one line "and N more rows (rows 22-5021)", so one systematic problem does not
bury the rest. An optional audit trail (when, who, what) closes the page; the liaison sign-off
writes its decisions there.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from htan_submission.findings import Finding, Report

COLLAPSE_AFTER = 20  # rows shown per (file, column, rule) before the rest are summarised
MAX_RANGES = 12  # row ranges listed in a summary line before "…"
FILE_LEVEL = "(whole file)"

CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;margin:0 auto;
max-width:1200px;padding:0 24px 48px}
header{border-bottom:3px solid #1f4e79;margin-bottom:16px}h1{margin:20px 0 4px;font-size:24px}
.meta{color:#57606a;margin:0 0 12px}h2{margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h4{margin:14px 0 6px;font-size:14px}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
table{border-collapse:collapse;margin:6px 0 12px;width:100%}th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
tr.section-row td{background:#eef3f8;font-weight:600}.sev{display:inline-block;border-radius:10px;padding:0 8px;
font-size:12px;font-weight:600}.sev-error{background:#ffebe9;color:#a40e26;border:1px solid #ff8182}
.sev-warning{background:#fff8c5;color:#7d4e00;border:1px solid #d4a72c}tr.error td:first-child{
border-left:4px solid #cf222e}tr.warning td:first-child{border-left:4px solid #bf8700}
tr.more td{color:#57606a;font-style:italic;background:#fafbfc}.ok{color:#1a7f37;font-weight:600}
details.file{border:1px solid #d0d7de;border-radius:6px;margin:10px 0;padding:0 12px}
details.file>summary{cursor:pointer;padding:8px 0;font-weight:600}.counts{font-weight:400;color:#57606a}
ul.notes{background:#f6f8fa;border-left:4px solid #1f4e79;padding:8px 8px 8px 28px}
td.errors{color:#a40e26;font-weight:600}td.warnings{color:#7d4e00}
@media print{details.file{break-inside:avoid-page}}
"""


@dataclass
class Section:
    """One step's part of the page: its title ("Validation", "PHI scan"...), its report, and
    free-text notes shown above the findings (e.g. which schema versions were used)."""

    title: str
    report: Report
    notes: list[str] = field(default_factory=list)


class AuditEntry(NamedTuple):
    """A decision about the batch: when, who (a Synapse user name), what (approved, rejected...)."""

    when: object
    who: str
    what: str


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _when(value: object) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        return value.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo else "")
    return str(value)


def row_ranges(rows: Sequence[int], limit: int = MAX_RANGES) -> str:
    """``[22, 23, 24, 30]`` -> ``22-24, 30``; after ``limit`` ranges, ``…``."""
    ranges: list[tuple[int, int]] = []
    for row in sorted(set(rows)):
        if ranges and row == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], row)
        else:
            ranges.append((row, row))
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:limit]]
    return ", ".join(parts) + (", …" if len(ranges) > limit else "")


def _counts(findings: Iterable[Finding]) -> tuple[int, int]:
    tally = Counter(f.severity for f in findings)
    return tally["error"], tally["warning"]


def _counts_text(errors: int, warnings: int) -> str:
    return f"{_n(errors, 'error')}, {_n(warnings, 'warning')}"


def _by_file(report: Report) -> dict[str, list[Finding]]:
    files: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        files[finding.file].append(finding)
    return dict(sorted(files.items()))


def _rule_groups(findings: list[Finding]) -> list[list[Finding]]:
    """Findings of one column, one group per (rule, severity): errors first, rows in order."""
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        groups[(finding.rule, finding.severity)].append(finding)
    order = sorted(groups, key=lambda key: (key[1] != "error", key[0]))
    return [sorted(groups[key], key=lambda f: (f.row is not None, f.row or 0, f.message)) for key in order]


def _finding_row(finding: Finding) -> str:
    row = f"{finding.row:,}" if finding.row is not None else "—"
    return (f'<tr class="{_e(finding.severity)}"><td class="num">{_e(row)}</td><td><code>{_e(finding.rule)}</code>'
            f'</td><td><span class="sev sev-{_e(finding.severity)}">{_e(finding.severity)}</span></td>'
            f"<td>{_e(finding.message)}</td></tr>")


def _more_row(hidden: list[Finding]) -> str:
    rows = [f.row for f in hidden if f.row is not None]
    where = f" (rows {row_ranges(rows)})" if rows else ""
    noun = "row" if len(hidden) == 1 else "rows"
    return (f'<tr class="more"><td colspan="4">and {len(hidden):,} more {noun}{_e(where)} with '
            f"<code>{_e(hidden[0].rule)}</code> {_e(hidden[0].severity)}s in this column</td></tr>")


def _column_block(column: str | None, findings: list[Finding], collapse_after: int) -> str:
    errors, warnings = _counts(findings)
    label = f"Column <code>{_e(column)}</code>" if column is not None else _e(FILE_LEVEL)
    out = [f'<h4>{label} <span class="counts">— {_counts_text(errors, warnings)}</span></h4>',
           '<table class="findings"><thead><tr><th>Row</th><th>Rule</th><th>Severity</th><th>Message</th>'
           "</tr></thead><tbody>"]
    for group in _rule_groups(findings):
        out.extend(_finding_row(f) for f in group[:collapse_after])
        if len(group) > collapse_after:
            out.append(_more_row(group[collapse_after:]))
    out.append("</tbody></table>")
    return "\n".join(out)


def _file_block(anchor: str, name: str, findings: list[Finding], collapse_after: int) -> str:
    errors, warnings = _counts(findings)
    components = {f.component for f in findings if f.component}
    component = f" · component {_e(next(iter(components)))}" if len(components) == 1 else ""
    columns: dict[str | None, list[Finding]] = defaultdict(list)
    for finding in findings:
        columns[finding.column].append(finding)
    ordered = sorted(columns, key=lambda c: (c is not None, c or ""))
    body = "\n".join(_column_block(c, columns[c], collapse_after) for c in ordered)
    return (f'<details class="file" id="{anchor}" open><summary><span class="mono">{_e(name)}</span> '
            f'<span class="counts">— {_counts_text(errors, warnings)}{component}</span></summary>\n{body}\n</details>')


def _rules_table(report: Report) -> str:
    tally: dict[str, Counter] = defaultdict(Counter)
    for finding in report.findings:
        tally[finding.rule][finding.severity] += 1
    rows = "".join(f'<tr><td><code>{_e(rule)}</code></td><td class="num errors">{c["error"]:,}</td>'
                   f'<td class="num warnings">{c["warning"]:,}</td></tr>'
                   for rule, c in sorted(tally.items(), key=lambda item: (-sum(item[1].values()), item[0])))
    return ('<table class="rules"><thead><tr><th>Rule</th><th>Errors</th><th>Warnings</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _summary_table(sections: list[Section], files: list[dict[str, list[Finding]]]) -> str:
    out = ['<table class="summary"><thead><tr><th>Section</th><th>File</th><th>Errors</th><th>Warnings</th>'
           "</tr></thead><tbody>"]
    for number, (section, by_file) in enumerate(zip(sections, files, strict=True), start=1):
        errors, warnings = section.report.errors, section.report.warnings
        status = "" if by_file else (
            f' <span class="ok">no findings</span> ({_n(len(section.report.inputs), "input")} checked)')
        out.append(f'<tr class="section-row"><td><a href="#s{number}">{_e(section.title)}</a>{status}</td>'
                   f'<td>{_n(len(by_file), "file")} with findings</td><td class="num errors">{errors:,}</td>'
                   f'<td class="num warnings">{warnings:,}</td></tr>')
        for index, (name, findings) in enumerate(by_file.items(), start=1):
            file_errors, file_warnings = _counts(findings)
            out.append(f'<tr><td></td><td><a class="mono" href="#s{number}-f{index}">{_e(name)}</a></td>'
                       f'<td class="num errors">{file_errors:,}</td>'
                       f'<td class="num warnings">{file_warnings:,}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _section_block(number: int, section: Section, by_file: dict[str, list[Finding]], collapse_after: int) -> str:
    out = [f'<section id="s{number}"><h2>{_e(section.title)} <span class="counts">— '
           f"{_counts_text(section.report.errors, section.report.warnings)}</span></h2>"]
    if section.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{_e(note)}</li>" for note in section.notes) + "</ul>")
    if not by_file:
        out.append(f'<p class="ok">No findings ({_n(len(section.report.inputs), "input")} checked).</p>')
    else:
        out.append(_rules_table(section.report))
        out.extend(_file_block(f"s{number}-f{index}", name, findings, collapse_after)
                   for index, (name, findings) in enumerate(by_file.items(), start=1))
    out.append("</section>")
    return "\n".join(out)


def render_audit(rows: Iterable[AuditEntry | tuple[object, str, str]]) -> str:
    """The "Audit trail" table: one row per (when, who, what), in the order given."""
    body = "".join(f"<tr><td class=\"mono\">{_e(_when(entry[0]))}</td><td>{_e(entry[1])}</td>"
                   f"<td>{_e(entry[2])}</td></tr>" for entry in rows)
    body = body or '<tr><td colspan="3">no decisions recorded yet</td></tr>'
    return ('<section id="audit"><h2>Audit trail</h2><table class="audit"><thead><tr><th>When</th><th>Who</th>'
            f"<th>What</th></tr></thead><tbody>{body}</tbody></table></section>")


def render_batch_report(*, title: str, sections: list[Section],
                        audit: Iterable[AuditEntry | tuple[object, str, str]] | None = None,
                        generated_at: datetime | None = None, collapse_after: int = COLLAPSE_AFTER) -> str:
    """The whole page as one string (write it with ``reports.batch.atomic_write``)."""
    generated = _when(generated_at or datetime.now(UTC))
    files = [_by_file(section.report) for section in sections]
    errors = sum(s.report.errors for s in sections)
    warnings = sum(s.report.warnings for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f'<header><h1>{_e(title)}</h1><p class="meta">Generated {_e(generated)} · '
        f"{_n(len(sections), 'section')} · {_counts_text(errors, warnings)}</p></header>",
        '<section id="summary"><h2>Summary</h2>', _summary_table(sections, files), "</section>",
    ]
    parts.extend(_section_block(number, section, by_file, collapse_after)
                 for number, (section, by_file) in enumerate(zip(sections, files, strict=True), start=1))
    if audit is not None:
        parts.append(render_audit(audit))
    parts.append("</body></html>\n")
    return "\n".join(parts)
