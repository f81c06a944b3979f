"""``htan-submit attach`` and ``htan-submit verify``: metadata attachment from a terminal.

The same functions the DAG's ``attach_metadata`` and ``verify`` tasks call, on the batch's
manifests fetched from S3. Token from ``SYNAPSE_AUTH_TOKEN``; exit 0 without errors, 1 with
errors, 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from htan_submission.config import ConfigError, get_center
from htan_submission.synapse.client import SynapseTarget, target_from_env

ORGANIZATION_ENV = "HTAN_SCHEMA_ORGANIZATION"


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``attach`` and ``verify`` to ``htan-submit``."""
    attach = commands.add_parser(
        "attach", help="upsert the batch's records into RecordSets and repair file annotations",
        description="Record manifests go into their component's RecordSet (created with its upsert key and "
                    "schema on first use; a new version only when a row changed); transferred files whose "
                    "annotations differ from their manifest row get them again.")
    verify = commands.add_parser(
        "verify", help="read back annotations and ask Synapse's schema validation of every file and RecordSet",
        description="Fails (exit 1) when an annotation differs from the manifest, Synapse finds an item invalid, "
                    "or has not validated it in time.")
    for parser in (attach, verify):
        parser.add_argument("--center", required=True, help="center id, e.g. HTA200")
        parser.add_argument("--batch", required=True, help="the batch's S3 prefix, s3://bucket/prefix/")
        parser.add_argument("--organization", default=os.environ.get(ORGANIZATION_ENV) or None,
                            help=f"schema organization (default: ${ORGANIZATION_ENV} or HTAN2Organization)")
        parser.add_argument("--json", help="also write the result as JSON to this file")
    verify.add_argument("--deadline", type=float, default=120.0, help="seconds to wait for Synapse's validation")
    attach.set_defaults(func=cmd_attach)
    verify.set_defaults(func=cmd_verify)


def _target(args: argparse.Namespace) -> SynapseTarget:
    return target_from_env(getattr(args, "endpoint", None))


def _run(args: argparse.Namespace, step) -> int:
    from htan_submission.metadata.batch import read_manifests
    from htan_submission.metadata.records import ORGANIZATION
    from htan_submission.staging import stage_batch
    from htan_submission.synapse.files import SynapseFiles
    from htan_submission.transfer.s3 import s3_client

    center = get_center(args.center, args.centers)
    files = SynapseFiles.login(_target(args))
    with tempfile.TemporaryDirectory(prefix="htan-metadata-") as work:
        try:
            staged = stage_batch(s3_client(), args.batch, work)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        manifests, findings = read_manifests(staged.manifests)
        output, errors = step(files, center, manifests, args.organization or ORGANIZATION)
    for finding in findings:
        print(f"{finding.severity} {finding.file} row {finding.row} [{finding.rule}] {finding.message}")
    if args.json:
        Path(args.json).write_text(json.dumps(output, indent=2) + "\n")
    return 1 if errors else 0


def cmd_attach(args: argparse.Namespace) -> int:
    from htan_submission.metadata.batch import attach_batch

    def step(files, center, manifests, organization):
        result = attach_batch(files, center, manifests, organization=organization)
        for record in result.record_sets:
            print(f"{record.component}: RecordSet {record.record_set_id} v{record.version} ({record.added} added, "
                  f"{record.updated} updated, {record.unchanged} unchanged)")
        print("files: " + ", ".join(f"{k} {v}" for k, v in result.files.items()))
        _print(result.findings)
        return result.to_dict(), sum(f.severity == "error" for f in result.findings)

    return _run(args, step)


def cmd_verify(args: argparse.Namespace) -> int:
    from htan_submission.metadata.batch import verify_batch

    def step(files, center, manifests, organization):
        report = verify_batch(files, center, manifests, deadline_s=args.deadline)
        summary = report.summary()
        print(f"verify: {summary['checked']} checked, {summary['valid']} valid, {summary['invalid']} invalid, "
              f"{summary['not_validated']} not validated, {summary['errors']} error(s)")
        _print(report.sorted_findings())
        return report.to_dict(), report.errors

    return _run(args, step)


def _print(findings, limit: int = 20) -> None:
    for finding in findings[:limit]:
        print(f"{finding.severity} {finding.file} row {finding.row} [{finding.rule}] {finding.message}")
    if len(findings) > limit:
        print(f"... and {len(findings) - limit} more finding(s)")
