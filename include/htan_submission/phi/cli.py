"""``htan-submit scan-phi`` and ``htan-submit scrub-table``: the table PHI steps from a terminal.

Exit codes follow the main CLI: 0 nothing found / converted cleanly, 1 PHI found or a cell could
not be converted, 2 an input cannot be read (the reason on stderr). Output lines show masked
values only; the private birth-dates file is never echoed.
"""

from __future__ import annotations

import argparse
import sys

from htan_submission.findings import Finding, Report

PRINT_LIMIT = 50


def register(commands: argparse._SubParsersAction) -> None:
    """Add the subcommands to ``htan-submit``'s parser (called from ``cli.build_parser``)."""
    scan = commands.add_parser(
        "scan-phi", help="find PHI (dates, ages over 89, emails, phones, IDs ...) in manifest tables",
        description="Scans manifests (CSV/TSV/XLSX, or directories of them) cell by cell. Exit 1 when PHI is "
                    "found, 2 when an input cannot be read.")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or directories")
    scan.add_argument("--json", help="also write the report ({summary, findings}) as JSON to this file")
    _policy_arguments(scan)
    scan.set_defaults(func=cmd_scan_phi)

    scrub = commands.add_parser(
        "scrub-table", help="turn dates into days from birth and apply the age policy to one manifest",
        description="Reads MANIFEST, converts mapped date columns to AGE_IN_DAYS_* (days from the participant's "
                    "birth, from the private --birth-dates file), drops the date columns, applies the age "
                    "policy, re-scans the result and writes it atomically to --out (.csv, .tsv or .xlsx). "
                    "Cells that cannot be converted are left empty and reported (exit 1); nothing is written "
                    "when a calendar date would remain.")
    scrub.add_argument("manifest", metavar="MANIFEST")
    scrub.add_argument("--birth-dates", required=True, metavar="FILE",
                       help="private CSV: HTAN_PARTICIPANT_ID,DATE_OF_BIRTH (never uploaded, never printed)")
    scrub.add_argument("--out", required=True, metavar="FILE", help="output table (.csv, .tsv or .xlsx)")
    scrub.add_argument("--mapping", metavar="FILE",
                       help="YAML/JSON {DATE_COLUMN: AGE_IN_DAYS_COLUMN or null}, over the defaults")
    scrub.add_argument("--date-order", choices=("MDY", "DMY"),
                       help="how to read dates like 03/04/2019 (default: the center's date_order, else refuse)")
    scrub.add_argument("--json", help="also write the report as JSON to this file")
    _policy_arguments(scrub)
    scrub.set_defaults(func=cmd_scrub_table)


def _policy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--age-policy", choices=("flag", "cap"),
                        help="ages over 89: flag them or cap them to 90 years (default: the center's, else flag)")
    parser.add_argument("--center", help="take age_policy (and date settings) from this center in centers.yaml")


def _center(args: argparse.Namespace):
    if not args.center:
        return None
    from htan_submission.config import get_center

    return get_center(args.center, args.centers)


def cmd_scan_phi(args: argparse.Namespace) -> int:
    from htan_submission.manifests import ManifestReadError
    from htan_submission.phi.tables import has_phi, scan_tables

    center = _center(args)
    policy = args.age_policy or (center.age_policy if center else "flag")
    try:
        report = scan_tables(args.paths, age_policy=policy)
    except ManifestReadError as exc:
        print(f"htan-submit: {exc}", file=sys.stderr)
        return 2
    _print(report)
    found = has_phi(report)
    print(f"scan-phi: {len(report.inputs)} file(s), {report.extra.get('cells', 0):,} cells: "
          + (f"PHI found {_by_rule(report, 'phi.')}" if found else "no PHI found"))
    if args.json:
        report.write(json_path=args.json)
    return 1 if found else 0


def cmd_scrub_table(args: argparse.Namespace) -> int:
    from htan_submission.manifests import ManifestReadError
    from htan_submission.phi.scrub_table import ScrubInputError, scrub_table_file

    center = _center(args)
    policy = args.age_policy or (center.age_policy if center else "flag")
    date_order = args.date_order or (getattr(center, "date_order", None) if center else None)
    mapping = dict(getattr(center, "date_columns", ()) or ()) if center else None
    try:
        report = scrub_table_file(args.manifest, args.birth_dates, args.out, mapping=mapping,
                                  mapping_file=args.mapping, age_policy=policy, date_order=date_order)
    except (ManifestReadError, ScrubInputError) as exc:
        print(f"htan-submit: {exc}", file=sys.stderr)
        return 2
    _print(report)
    extra = report.extra
    if extra["written"]:
        print(f"scrub-table: wrote {extra['output']}: {extra['converted_cells']} date cell(s) converted, "
              f"{extra['capped_ages']} age(s) capped, columns {extra['date_columns'] or 'none mapped'}")
    else:
        print(f"scrub-table: did NOT write {extra['output']}: calendar dates would remain (see above)")
    if args.json:
        report.write(json_path=args.json)
    failed = not extra["written"] or any(_blocking(f) for f in report.findings)
    return 1 if failed else 0


def _blocking(finding: Finding) -> bool:
    return finding.severity == "error" and finding.rule.startswith(("phi.", "scrub."))


def _by_rule(report: Report, prefix: str) -> str:
    counts = {rule: n for rule, n in report.summary()["by_rule"].items() if rule.startswith(prefix)}
    return ", ".join(f"{rule}: {n}" for rule, n in counts.items())


def _print(report: Report) -> None:
    findings = report.sorted_findings()
    for f in findings[:PRINT_LIMIT]:
        print(f"{f.file}:{f.row if f.row is not None else '-'}:{f.column or '-'}: {f.severity} {f.rule}: {f.message}")
    if len(findings) > PRINT_LIMIT:
        print(f"... and {len(findings) - PRINT_LIMIT} more finding(s): use --json FILE for all of them")
