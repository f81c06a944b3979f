"""``htan-submit``: the submission's steps from a terminal, the same code the DAG runs.

The Synapse token comes from ``SYNAPSE_AUTH_TOKEN`` (never a flag: flags land in shell history
and ``ps``); an endpoint override (the emulator) from ``--endpoint`` or ``HTAN_SYNAPSE_ENDPOINT``.
Exit codes: 0 passed, 1 the check failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from htan_submission.config import ConfigError, get_center
from htan_submission.datamodel import cli as datamodel_cli
from htan_submission.metadata import cli as metadata_cli
from htan_submission.phi import cli as phi_cli
from htan_submission.phi.images import cli as phi_images_cli
from htan_submission.synapse.client import ENDPOINT_ENV, TOKEN_ENV, SynapseTarget, target_from_env
from htan_submission.synapse.errors import SynapseStepError
from htan_submission.transfer import cli as transfer_cli
from htan_submission.validation import cli as validation_cli

# Each step's commands live next to its code (`register(commands)`); light imports only, the
# work modules are imported when a command runs.
COMMAND_MODULES = (validation_cli, datamodel_cli, phi_cli, phi_images_cli, transfer_cli, metadata_cli)


def _target(args: argparse.Namespace) -> SynapseTarget:
    return target_from_env(args.endpoint)


def cmd_preflight(args: argparse.Namespace) -> int:
    from htan_submission.synapse.preflight import run_preflight

    center = get_center(args.center, args.centers)
    report = run_preflight(center, _target(args))
    print(report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 0 if report.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="htan-submit", description="Submit an HTAN center's batch to Synapse.")
    parser.add_argument("--centers", help="centers.yaml to use (default: $HTAN_CENTERS_FILE or the bundled one)")
    parser.add_argument("--endpoint",
                        help=f"Synapse endpoint base URL override (default: ${ENDPOINT_ENV} or synapse.org)")
    commands = parser.add_subparsers(dest="command", required=True)
    preflight = commands.add_parser(
        "preflight", help="check certification, 2FA, Terms of Service and upload permission",
        description=f"Checks the user of ${TOKEN_ENV} for the center; lists every missing step and how to fix it.",
    )
    preflight.add_argument("--center", required=True, help="center id, e.g. HTA200")
    preflight.add_argument("--json", help="also write the report as JSON to this file")
    preflight.set_defaults(func=cmd_preflight)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"htan-submit: {exc}", file=sys.stderr)
        return 2
    except SynapseStepError as exc:
        print(f"htan-submit: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
