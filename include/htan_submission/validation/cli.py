"""``htan-submit validate``: the same validation the DAG runs, from a terminal.

Exit codes: 0 no errors (warnings allowed), 1 any error, 2 an input could not be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SEVERITY_LEVELS = ("error", "warning")


def _severity(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        rule, _, level = pair.partition("=")
        if level not in SEVERITY_LEVELS or not rule:
            raise argparse.ArgumentTypeError(f"--severity wants RULE=error|warning, not {pair!r}")
        out[rule] = level
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from htan_submission.reports.batch import write_reports
    from htan_submission.validation.batch import UNREADABLE, validate_batch
    from htan_submission.validation.cross_rules import BatchFiles

    files = None
    if args.files_root:
        root = Path(args.files_root)
        files = BatchFiles({str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()},
                           root=str(root))
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"htan-submit: {', '.join(missing)}: no such file or directory", file=sys.stderr)
        return 2
    synapse = None
    if args.synapse_folder:
        from htan_submission.cli import _target
        from htan_submission.synapse.existing import existing_ids
        from htan_submission.synapse.files import SynapseFiles

        synapse = existing_ids(SynapseFiles.login(_target(args)), args.synapse_folder)
    report = validate_batch(args.paths, files=files, synapse=synapse, severity=_severity(args.severity),
                            components=set(args.component) if args.component else None)
    write_reports(report, "Validation", json_path=args.json, csv_path=args.csv, html_path=args.html)
    summary = report.summary()
    print(f"{summary['inputs']} manifest(s), {summary['rows']} row(s): {summary['errors']} error(s), "
          f"{summary['warnings']} warning(s)")
    for finding in report.sorted_findings()[: args.show]:
        where = ":".join(str(x) for x in (finding.file, finding.row, finding.column) if x is not None)
        print(f"  {finding.severity:7} {where}  [{finding.rule}] {finding.message}")
    if len(report.findings) > args.show:
        print(f"  ... and {len(report.findings) - args.show} more (see --json/--csv/--html)")
    unreadable = [f for f in report.findings if f.rule == UNREADABLE]
    for finding in unreadable:
        print(f"htan-submit: {finding.message}", file=sys.stderr)
    if unreadable:
        return 2
    return 1 if report.errors else 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate", help="validate manifests against the HTAN2 schemas and the DCC's cross-manifest rules",
        description="PATH: manifest files (CSV, TSV, XLSX) or a batch directory. Exit 0: no errors; "
                    "1: errors; 2: an input could not be read.")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--json", help="write the report as JSON")
    parser.add_argument("--csv", help="write the findings as CSV")
    parser.add_argument("--html", help="write a self-contained HTML report")
    parser.add_argument("--files-root", help="directory holding the data files FILENAME refers to "
                                             "(default: the batch directory when one is given)")
    parser.add_argument("--component", action="append", help="only check this component (repeatable)")
    parser.add_argument("--synapse-folder", metavar="SYN_ID",
                        help="also check IDs against what this Synapse folder (the center's vN_ingest) already "
                             "holds; needs SYNAPSE_AUTH_TOKEN")
    parser.add_argument("--severity", action="append", default=[], metavar="RULE=LEVEL",
                        help="override a rule's severity, e.g. cross.file_small=error (repeatable)")
    parser.add_argument("--show", type=int, default=50, help="findings to print (default 50)")
    parser.set_defaults(func=cmd_validate)
