"""``htan-submit transfer`` and ``htan-submit storage register``: the transfer from a terminal.

The same functions the Airflow tasks call (``plan_batch``, ``transfer_chunk``,
``register_storage``), run chunk after chunk. The Synapse token comes from
``SYNAPSE_AUTH_TOKEN`` as for preflight; S3 from ``AWS_ENDPOINT_URL`` or boto3's defaults.
Exit codes as for every command: 0 done without errors, 1 errors found, 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from htan_submission.config import ConfigError, get_center
from htan_submission.findings import Report
from htan_submission.synapse.client import TOKEN_ENV, SynapseTarget, target_from_env

GIB = 1024**3


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``transfer`` and ``storage`` sub-commands to ``htan-submit``."""
    from htan_submission.transfer.plan import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_FILES

    transfer = commands.add_parser(
        "transfer", help="move a batch's data files into Synapse (index: zero-copy, copy: streamed)",
        description=f"Plans the batch (S3 listing joined with its manifests' FILENAMEs) and transfers it chunk by "
                    f"chunk as the user of ${TOKEN_ENV}. Re-running is safe: files already there are skipped.")
    transfer.add_argument("--center", required=True, help="center id, e.g. HTA200")
    transfer.add_argument("--batch", required=True, help="the batch's S3 prefix, s3://bucket/prefix/")
    transfer.add_argument("--mode", choices=("index", "copy"), help="default: the center's transfer_mode")
    transfer.add_argument("--dry-run", action="store_true", help="plan and report only; move nothing")
    transfer.add_argument("--json", help="also write the plan, results and findings as JSON to this file")
    transfer.add_argument("--manifest", action="append", default=[], metavar="FILE",
                          help="a local manifest to take FILENAMEs from (repeatable; default: the CSV/TSV/XLSX "
                               "files at the top of the batch prefix)")
    transfer.add_argument("--chunk-files", type=int, default=DEFAULT_CHUNK_FILES, help="files per chunk at most")
    transfer.add_argument("--chunk-gib", type=float, default=DEFAULT_CHUNK_BYTES / GIB, help="GiB per chunk at most")
    transfer.add_argument("--workers", type=int, default=8, help="files in flight")
    transfer.add_argument("-v", "--verbose", action="store_true", help="log every file")
    transfer.set_defaults(func=cmd_transfer)

    storage = commands.add_parser("storage", help="the center's bucket as a Synapse storage location")
    actions = storage.add_subparsers(dest="storage_command", required=True)
    register_cmd = actions.add_parser(
        "register", help="register the center's bucket for index-mode transfers (once per center)",
        description="Writes owner.txt naming the Synapse user at the bucket prefix, creates the external S3 "
                    "storage location and makes it the upload destination of the center's project.")
    register_cmd.add_argument("--center", required=True, help="center id, e.g. HTA200")
    register_cmd.add_argument("--json", help="also write the result as JSON to this file")
    register_cmd.set_defaults(func=cmd_storage_register)


def cmd_transfer(args: argparse.Namespace) -> int:
    from htan_submission.transfer.inventory import list_batch, manifest_keys
    from htan_submission.transfer.keys import parse_batch_url
    from htan_submission.transfer.plan import plan_batch
    from htan_submission.transfer.run import TransferOptions, TransferTarget, transfer_chunk
    from htan_submission.transfer.s3 import s3_client

    _configure_logging(args.verbose)
    center = get_center(args.center, args.centers)
    mode = args.mode or center.transfer_mode
    try:
        batch = parse_batch_url(args.batch)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if mode == "index" and batch.bucket != center.s3.bucket:
        raise ConfigError(f"index mode registers objects in place, so the batch must be in {center.center_id}'s "
                          f"bucket {center.s3.bucket}, not {batch.bucket}")
    s3 = s3_client(max_pool_connections=2 * args.workers + 4)
    objects = list_batch(s3, batch)
    keys = [] if args.manifest else manifest_keys(objects, batch)
    refs = _refs(s3, batch.bucket, keys, args.manifest)
    plan = plan_batch(batch, refs, ingest_folder=center.ingest_folder_name, objects=objects, manifest_keys=keys,
                      max_chunk_files=args.chunk_files, max_chunk_bytes=int(args.chunk_gib * GIB))
    print(plan.summary())
    output: dict = {"mode": mode, "dry_run": args.dry_run, "plan": plan.to_dict()}
    report = plan.report()
    if not args.dry_run and plan.chunks:
        from htan_submission.synapse.files import SynapseFiles

        files = SynapseFiles.login(_target(args))
        target = TransferTarget.for_center(center)
        options = TransferOptions(workers=args.workers)
        results = []
        for chunk in plan.chunks:
            result = transfer_chunk(chunk, target, mode, synapse=files, s3=s3, options=options)
            results.append(result)
            report.extend(result.findings)
            print(f"{chunk.id}: " + ", ".join(f"{k} {v}" for k, v in result.counts.items() if v)
                  + f" ({result.rest_calls} REST calls, {result.seconds:.1f} s)")
        totals = {action: sum(r.counts[action] for r in results) for action in results[0].counts}
        report.extra.update({"transferred": totals, "rest_calls": sum(r.rest_calls for r in results)})
        output["results"] = [r.to_dict() for r in results]
        print("transfer: " + ", ".join(f"{k} {v}" for k, v in totals.items() if v))
    _print_findings(report)
    if args.json:
        output["report"] = report.to_dict()
        Path(args.json).write_text(json.dumps(output, indent=2) + "\n")
    return 1 if report.errors else 0


def cmd_storage_register(args: argparse.Namespace) -> int:
    from htan_submission.synapse.files import SynapseFiles
    from htan_submission.transfer.s3 import s3_client
    from htan_submission.transfer.storage import register_storage

    center = get_center(args.center, args.centers)
    registration = register_storage(center, SynapseFiles.login(_target(args)), s3_client())
    print(registration.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(registration.to_dict(), indent=2) + "\n")
    return 0


def _target(args: argparse.Namespace) -> SynapseTarget:
    return target_from_env(getattr(args, "endpoint", None))


def _refs(s3, bucket: str, keys: list[str], local: list[str]) -> list:
    from htan_submission.transfer.refs import read_refs

    refs: list = []
    for path in local:
        refs.extend(read_refs(path))
    with tempfile.TemporaryDirectory(prefix="htan-manifests-") as tmp:
        for key in keys:
            name = key.rsplit("/", 1)[-1]
            path = Path(tmp) / name
            s3.download_file(bucket, key, str(path))
            try:
                refs.extend(read_refs(path, name=key))
            except ValueError as exc:
                print(f"htan-submit: skipping manifest {key}: {exc}", file=sys.stderr)
    return refs


def _print_findings(report: Report, limit: int = 20) -> None:
    findings = report.sorted_findings()
    for finding in findings[:limit]:
        where = finding.file + (f" row {finding.row}" if finding.row else "")
        print(f"  [{finding.severity}] {finding.rule}: {where}: {finding.message}")
    if len(findings) > limit:
        print(f"  ... and {len(findings) - limit} more (see --json)")


def _configure_logging(verbose: bool) -> None:
    logger = logging.getLogger("htan_submission.transfer")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
