"""``htan-submit model refresh`` and ``htan-submit template``: the data model from a terminal.

Exit codes follow the main CLI: 0 done, 1 a schema was refused (or Synapse failed), 2 usage or
configuration error. The token comes from ``SYNAPSE_AUTH_TOKEN`` and the endpoint from
``--endpoint``/``HTAN_SYNAPSE_ENDPOINT``, resolved by the main CLI's own ``_target`` so every
command reaches Synapse the same way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from htan_submission.config import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``model`` (with ``refresh``) and ``template`` to ``htan-submit``'s parser."""
    from htan_submission.datamodel.refresh import ORGANIZATION

    model = commands.add_parser("model", help="manage the vendored HTAN2 data model (JSON Schemas)")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    refresh = model_commands.add_parser(
        "refresh", help="download the registered HTAN2 schemas from Synapse into the data model folder",
        description=f"Downloads {ORGANIZATION}-<Component>-<version> (the newest registered version of each "
                    "component, or --version) as v<version>/HTAN.<Component>-v<version>-schema.json. A schema "
                    "that is not valid JSON, not a draft-07 object schema or not compilable is refused (exit 1) "
                    "and the file already there is left untouched; identical files are not rewritten.")
    refresh.add_argument("--component", action="append", metavar="C",
                         help="only this component (repeatable; case-insensitive); default: every registered one")
    refresh.add_argument("--version", metavar="X.Y.Z", help="this version instead of the newest (one --component)")
    refresh.add_argument("--dest", metavar="DIR",
                         help="data model folder to write (default: $HTAN_DATA_MODEL_DIR or the bundled one)")
    refresh.add_argument("--organization", default=ORGANIZATION,
                         help=f"Synapse schema organization (default: {ORGANIZATION})")
    # Also accepted after the subcommand; SUPPRESS keeps a top-level --endpoint from being reset.
    refresh.add_argument("--endpoint", default=argparse.SUPPRESS, help="Synapse endpoint base URL override")
    refresh.set_defaults(func=cmd_model_refresh)

    template = commands.add_parser(
        "template", help="write an XLSX manifest template for a component",
        description="Writes sheet <Component> (the header row, required columns first and bold, dropdowns for "
                    "enum columns), sheet Columns (what each column takes) and sheet Values (allowed values), "
                    "all from the component's schema.")
    template.add_argument("component", metavar="COMPONENT", help="e.g. Demographics (case-insensitive)")
    template.add_argument("--xlsx", required=True, metavar="FILE", help="the .xlsx file to write")
    template.set_defaults(func=cmd_template)


def cmd_model_refresh(args: argparse.Namespace) -> int:
    from htan_submission import cli as main_cli
    from htan_submission.datamodel.refresh import SEMVER, refresh
    from htan_submission.datamodel.registry import data_model_dir
    from htan_submission.synapse.gateway import SynapseGateway

    if args.version and (not args.component or len(args.component) != 1):
        raise ConfigError("--version needs exactly one --component")
    if args.version and not SEMVER.match(args.version):
        raise ConfigError(f"--version {args.version!r} is not X.Y.Z")
    dest = Path(args.dest) if args.dest else data_model_dir()
    gateway = SynapseGateway.login(main_cli._target(args))
    outcomes = refresh(gateway, dest=dest, organization=args.organization, components=args.component,
                       version=args.version)
    for outcome in outcomes:
        print(outcome.line(), file=sys.stderr if outcome.action == "refused" else sys.stdout)
    counts = {action: sum(o.action == action for o in outcomes)
              for action in ("added", "replaced", "unchanged", "skipped", "refused")}
    print(f"model refresh ({args.organization} -> {dest}): " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    return 1 if counts["refused"] else 0


def cmd_template(args: argparse.Namespace) -> int:
    from htan_submission.datamodel.compiler import compile_component
    from htan_submission.datamodel.keywords import CompileError
    from htan_submission.datamodel.registry import DataModelError, get_component
    from htan_submission.datamodel.template import write_template

    if Path(args.xlsx).suffix.lower() != ".xlsx":
        raise ConfigError(f"--xlsx {args.xlsx}: the file name must end in .xlsx (Excel refuses others)")
    try:
        compiled = compile_component(get_component(args.component).name)
    except (DataModelError, CompileError) as exc:
        raise ConfigError(str(exc)) from None
    summary = write_template(compiled, args.xlsx)
    print(f"template {summary.path}: {summary.component} {summary.version}, {summary.columns} columns, "
          f"{summary.dropdowns} dropdowns, {summary.values:,} allowed values on sheet Values")
    return 0
