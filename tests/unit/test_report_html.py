"""The batch HTML report: escaped, grouped file -> column -> rule, collapsed, self-contained."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from htan_submission.findings import Finding, Report
from htan_submission.reports.html import (
    COLLAPSE_AFTER,
    AuditEntry,
    Section,
    render_audit,
    render_batch_report,
    row_ranges,
)

VOID = {"meta", "br", "hr", "img", "input", "link"}
EVIL = "<script>alert('x')</script>"


class _Page(HTMLParser):
    """Collects tags (checking they nest), text, and each table's rows as cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def _validation_report() -> Report:
    findings = [Finding("clinical/demographics.csv", row, "RACE", "schema.required", "RACE is required",
                        component="Demographics") for row in range(2, 5002)]
    findings += [
        Finding("clinical/demographics.csv", 7, "SEX", "schema.enum", "'Mal' is not one of the allowed values",
                component="Demographics"),
        Finding("clinical/demographics.csv", 9, "SEX", "schema.type", "not text", severity="warning",
                component="Demographics"),
        Finding("clinical/demographics.csv", None, None, "manifest.duplicate_header", "column RACE appears twice",
                component="Demographics"),
        Finding(f"bio/{EVIL}.csv", 3, f"COL{EVIL}", f"rule.{EVIL}", f"value {EVIL} & more", severity="warning"),
    ]
    return Report(findings=findings, inputs=["clinical/demographics.csv", f"bio/{EVIL}.csv"])


@pytest.fixture
def page() -> tuple[str, _Page]:
    text = render_batch_report(
        title=f"Batch HTA200 {EVIL}",
        sections=[Section("Validation", _validation_report(), notes=[f"schemas: VitalStatus 2.0.0 {EVIL}"]),
                  Section("PHI scan", Report(inputs=["a.csv", "b.csv"])),
                  Section("Transfer", Report(findings=[Finding("s3://bucket/x.tif", None, None, "transfer.md5",
                                                               "checksum mismatch")]))],
        audit=[AuditEntry(datetime(2025, 3, 4, 12, 30, tzinfo=UTC), "liaison1", f"approved {EVIL}"),
               ("yesterday", "dcc", "reopened")],
        generated_at=datetime(2025, 3, 4, 13, 0, tzinfo=UTC),
    )
    return text, _parse(text)


def test_everything_is_escaped(page):
    text, parsed = page
    assert "<script" not in text.lower()
    # title + h1, note, file (summary + details), column, rule (rules table + row), message, audit
    assert text.count("&lt;script&gt;") == 10
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    joined = "".join(parsed.text)
    assert f"value {EVIL} & more" in joined and f"approved {EVIL}" in joined
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "iframe", "object", "embed", "img", "link")]


def test_the_page_is_self_contained(page):
    text, parsed = page
    assert "http://" not in text and "https://" not in text
    assert "url(" not in text and "@import" not in text
    for _, attrs in parsed.tags:
        assert "src" not in attrs
        assert attrs.get("href", "#").startswith("#")
    anchors = {attrs["id"] for _, attrs in parsed.tags if "id" in attrs}
    assert {attrs["href"][1:] for _, attrs in parsed.tags if "href" in attrs} <= anchors


def test_header_and_summary_table(page):
    text, parsed = page
    assert "Generated 2025-03-04 13:00:00 UTC" in text
    assert "3 sections · 5,003 errors, 2 warnings" in "".join(parsed.text)
    summary = parsed.tables[0]
    assert summary[0] == ["Section", "File", "Errors", "Warnings"]
    assert summary[1:] == [
        ["Validation", "2 files with findings", "5,002", "2"],
        ["", f"bio/{EVIL}.csv", "0", "1"],
        ["", "clinical/demographics.csv", "5,002", "1"],
        ["PHI scan no findings (2 inputs checked)", "0 files with findings", "0", "0"],
        ["Transfer", "1 file with findings", "1", "0"],
        ["", "s3://bucket/x.tif", "1", "0"],
    ]


def _findings_tables(parsed: _Page) -> list[list[list[str]]]:
    return [t for t in parsed.tables if t and t[0] == ["Row", "Rule", "Severity", "Message"]]


def test_findings_grouped_by_file_then_column_then_rule(page):
    text, parsed = page
    files = re.findall(r'<details class="file" id="(s\d+-f\d+)" open><summary><span class="mono">([^<]*)</span>', text)
    assert [name for _, name in files] == ["bio/&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;.csv",
                                           "clinical/demographics.csv", "s3://bucket/x.tif"]
    demographics = text.split('id="s1-f2"')[1].split("</details>")[0]
    headings = re.findall(r"<h4>(.*?) <span", demographics)
    assert headings == ["(whole file)", "Column <code>RACE</code>", "Column <code>SEX</code>"]
    assert "component Demographics" in demographics
    tables = _findings_tables(parsed)
    assert len(tables) == 5  # bio: 1 column; demographics: file-level, RACE, SEX; transfer: file-level
    sex = tables[3]
    # errors before warnings, each row: row, rule, severity, message
    assert sex[1:] == [["7", "schema.enum", "error", "'Mal' is not one of the allowed values"],
                       ["9", "schema.type", "warning", "not text"]]
    assert tables[2][0] == ["Row", "Rule", "Severity", "Message"]
    assert tables[1][1] == ["—", "manifest.duplicate_header", "error", "column RACE appears twice"]
    assert 'class="sev sev-error"' in text and 'class="sev sev-warning"' in text


def test_many_rows_of_one_rule_collapse(page):
    _, parsed = page
    race = _findings_tables(parsed)[2]
    shown = race[1:-1]
    assert len(shown) == COLLAPSE_AFTER == 20
    assert [r[0] for r in shown] == [str(n) for n in range(2, 22)]
    assert race[-1] == ["and 4,980 more rows (rows 22-5001) with schema.required errors in this column"]


def test_collapsed_rows_list_ranges_and_stop_after_a_dozen():
    assert row_ranges([5, 3, 4, 9, 11, 12, 12]) == "3-5, 9, 11-12"
    assert row_ranges(list(range(2, 60, 2))) == ", ".join(str(n) for n in range(2, 26, 2)) + ", …"
    findings = [Finding("f.csv", row, "C", "schema.pattern", "bad") for row in [*range(2, 40), 100, 102]]
    text = render_batch_report(title="t", sections=[Section("Validation", Report(findings=findings))],
                               collapse_after=5)
    assert "and 35 more rows (rows 7-39, 100, 102)" in text


def test_audit_trail_at_the_end(page):
    text, parsed = page
    audit = parsed.tables[-1]
    assert audit == [["When", "Who", "What"], ["2025-03-04 12:30:00 UTC", "liaison1", f"approved {EVIL}"],
                     ["yesterday", "dcc", "reopened"]]
    assert text.index("Audit trail") > text.index('id="s3"')
    plain = render_batch_report(title="t", sections=[Section("Validation", Report())])
    assert "Audit trail" not in plain and "No findings (0 inputs checked)" in plain
    assert "no decisions recorded yet" in render_audit([])


def test_section_notes_are_shown_before_findings(page):
    text, _ = page
    section = text.split('<section id="s1">')[1]
    assert section.index("schemas: VitalStatus 2.0.0") < section.index('<details class="file"')
