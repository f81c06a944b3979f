"""``htan-submit scan-images`` and ``htan-submit scrub-images``.

Wired into the main parser by ``register(commands)``. Exit codes follow the CLI's: 0 nothing
found (scan) / everything clean (scrub), 1 PHI found (scan) or a file not cleaned (scrub),
2 usage errors. PATH may be a file, a directory (searched recursively; images are picked by
their bytes) or ``s3://bucket/prefix`` (boto3's usual configuration; ``AWS_ENDPOINT_URL`` for
MinIO/moto).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from htan_submission.findings import Report


def register(commands: argparse._SubParsersAction) -> None:
    scan = commands.add_parser(
        "scan-images", help="report PHI in image headers (TIFF family, DICOM); change nothing",
        description="Reads every image header under PATH (TIFF, BigTIFF, SVS, OME-TIFF, NDPI, DICOM) and reports "
                    "dates, names, serials, label images. Exit 1 when anything is found.")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or s3://bucket/prefix")
    scan.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    scan.set_defaults(func=cmd_scan_images)

    scrub = commands.add_parser(
        "scrub-images", help="remove PHI from image headers, in place or into copies",
        description="Removes dates, names, serials and label/macro pixels from image headers by overwriting "
                    "header bytes; image data is never rewritten. A file that cannot be parsed is left untouched "
                    "and reported (exit 1).")
    scrub.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or s3://bucket/prefix")
    where = scrub.add_mutually_exclusive_group(required=True)
    where.add_argument("--in-place", action="store_true", help="edit the files themselves")
    where.add_argument("--out", metavar="DIR", help="write cleaned copies under DIR (local paths only)")
    scrub.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    scrub.set_defaults(func=cmd_scrub_images)


def _split(paths: list[str]) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(local paths, (bucket, prefix) pairs, missing local paths)."""
    local, remote, missing = [], [], []
    for path in paths:
        if path.startswith("s3://"):
            bucket, _, prefix = path[5:].partition("/")
            remote.append((bucket, prefix))
        elif Path(path).exists():
            local.append(path)
        else:
            missing.append(path)
    return local, remote, missing


def _merge(reports: list[Report]) -> Report:
    merged = Report()
    for report in reports:
        merged.findings.extend(report.findings)
        merged.inputs.extend(report.inputs)
        for key, value in report.extra.items():
            if isinstance(value, int) and not isinstance(value, bool):
                merged.extra[key] = merged.extra.get(key, 0) + value
            else:
                merged.extra[key] = value
    return merged


def _finish(report: Report, args: argparse.Namespace) -> int:
    for finding in report.sorted_findings():
        where = f" [{finding.column}]" if finding.column else ""
        print(f"{finding.severity}: {finding.file}{where} {finding.rule}: {finding.message}")
    summary = {k: v for k, v in report.summary().items() if k not in ("by_file",)}
    print(f"summary: {summary}")
    if args.json:
        report.write(json_path=args.json)
    return 1 if report.errors else 0


def _usage(message: str) -> int:
    print(f"htan-submit: {message}", file=sys.stderr)
    return 2


def cmd_scan_images(args: argparse.Namespace) -> int:
    from htan_submission.phi.images.s3_scrub import scrub_s3_prefix
    from htan_submission.phi.images.scrub import scan_images

    local, remote, missing = _split(args.paths)
    if missing:
        return _usage(f"no such file or directory: {', '.join(missing)}")
    reports = [scan_images(local)] if local else []
    if remote:
        client = _s3_client()
        reports.extend(scrub_s3_prefix(client, bucket, prefix, scan_only=True) for bucket, prefix in remote)
    return _finish(_merge(reports), args)


def cmd_scrub_images(args: argparse.Namespace) -> int:
    from htan_submission.phi.images.s3_scrub import scrub_s3_prefix
    from htan_submission.phi.images.scrub import scrub_images

    local, remote, missing = _split(args.paths)
    if missing:
        return _usage(f"no such file or directory: {', '.join(missing)}")
    if remote and args.out:
        return _usage("--out works on local paths only; S3 objects are scrubbed with --in-place")
    reports = [scrub_images(local, in_place=args.in_place, out_dir=args.out)] if local else []
    if remote:
        client = _s3_client()
        reports.extend(scrub_s3_prefix(client, bucket, prefix) for bucket, prefix in remote)
    return _finish(_merge(reports), args)


def _s3_client():
    import boto3

    return boto3.client("s3")
