"""``model refresh``: bring the registered HTAN2 schemas from Synapse into the data model folder.

Synapse is where the DCC publishes each component's schema (``HTAN2Organization-<Component>-
<version>``); the vendored folder is what validation compiles. Refresh downloads the newest
registered version of each component (or the ones asked for) and writes it as
``<dest>/v<version>/HTAN.<Component>-v<version>-schema.json``, the layout ``registry`` reads.

A schema is written only when the pipeline can use it: valid JSON, a draft-07 object schema, its
``components.yaml`` key columns among its properties, and compilable by our compiler. Anything
else is refused with the reason and the file already there is left as it was, because a broken
file would stop every validation that loads the data model. Each write is atomic (temp file +
rename in the same folder), and a file whose bytes would not change is not touched.

The file holds the body exactly as Synapse serves it (so its ``$id`` is the registered URI, not
the GitHub one), written as the published files are: ``json.dumps(indent=2)``, no final newline.
Older versions stay: the registry loads the newest version of each component.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from htan_submission.datamodel.registry import SCHEMA_FILE, Component, data_model_dir

ORGANIZATION = "HTAN2Organization"
DRAFT_07 = frozenset(f"{scheme}://json-schema.org/draft-07/schema{end}"
                     for scheme in ("http", "https") for end in ("", "#"))
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
COMPONENT_NAME = re.compile(r"^[A-Za-z0-9]+$")


class SchemaSource(Protocol):
    """What refresh needs from Synapse (``SynapseGateway`` has it)."""

    def list_json_schemas(self, organization: str) -> list[dict]: ...

    def list_json_schema_versions(self, organization: str, schema_name: str) -> list[dict]: ...

    def get_registered_json_schema(self, schema_id: str) -> object: ...


class RefusedSchema(ValueError):
    """A downloaded schema the pipeline cannot use; the message says why."""


@dataclass(frozen=True)
class Outcome:
    """What refresh did for one component."""

    component: str
    action: str  # "added" | "replaced" | "unchanged" | "refused" | "skipped"
    version: str | None = None
    old_version: str | None = None  # the newest version that was in dest before
    old_bytes: int | None = None  # of the file with the same version, when there was one
    new_bytes: int | None = None
    path: Path | None = None
    reason: str | None = None

    def line(self) -> str:
        old = self.old_version or "none"
        if self.action == "unchanged":
            return f"{self.component}: {self.version} unchanged ({self.new_bytes:,} bytes)"
        if self.action == "added":
            note = ""
            if self.old_version and _version_key(self.old_version) > _version_key(self.version or "0.0.0"):
                note = f"; {self.old_version} is newer and stays in use"
            return f"{self.component}: {old} -> {self.version}, new file {self.path} ({self.new_bytes:,} bytes){note}"
        if self.action == "replaced":
            return (f"{self.component}: {old} -> {self.version}, replaced {self.path} "
                    f"({self.old_bytes:,} -> {self.new_bytes:,} bytes)")
        if self.action == "refused":
            kept = f"; {old} left as it was" if self.old_version else "; nothing written"
            what = f"refused {self.version}" if self.version else "refused"
            return f"{self.component}: {what}: {self.reason}{kept}"
        return f"{self.component}: skipped: {self.reason}"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def schema_bytes(schema: dict) -> bytes:
    """The file form: as the published HTAN2 files are written (2-space indent, ASCII, no final
    newline), so an unchanged schema is byte-identical and left alone."""
    return json.dumps(schema, indent=2).encode("ascii")


def check_schema(component: Component, body: object) -> dict:
    """The schema as a dict when the pipeline can use it, else ``RefusedSchema`` saying why."""
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    from htan_submission.datamodel.compiler import compile_schema
    from htan_submission.datamodel.keywords import CompileError

    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise RefusedSchema(f"not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise RefusedSchema(f"not a JSON Schema object but a JSON {type(body).__name__}")
    declared = body.get("$schema")
    if declared is not None and declared not in DRAFT_07:
        raise RefusedSchema(f"$schema is {declared!r}, not draft-07")
    try:
        Draft7Validator.check_schema(body)
    except SchemaError as exc:
        raise RefusedSchema(f"not a valid draft-07 schema: {exc.message}") from None
    if body.get("type", "object") != "object":
        raise RefusedSchema(f"the root is not an object schema (type {body.get('type')!r})")
    properties = body.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise RefusedSchema("the schema defines no properties (no manifest columns)")
    missing = [column for column in component.key if column not in properties]
    if missing:
        raise RefusedSchema(f"key column(s) {', '.join(missing)} from components.yaml are not properties "
                            "of the schema; update components.yaml first")
    try:
        compile_schema(component, body)
    except CompileError as exc:
        raise RefusedSchema(f"the compiler cannot compile it: {exc}") from None
    return body


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def schema_path(dest: Path, component: str, version: str) -> Path:
    return dest / f"v{version}" / f"HTAN.{component}-v{version}-schema.json"


def present_versions(dest: Path) -> dict[str, str]:
    """The newest version of each component already in ``dest``."""
    newest: dict[str, str] = {}
    for path in dest.glob("v*/HTAN.*-schema.json"):
        match = SCHEMA_FILE.match(path.name)
        if match and (match["component"] not in newest
                      or _version_key(match["version"]) > _version_key(newest[match["component"]])):
            newest[match["component"]] = match["version"]
    return newest


def load_policy(dest: Path) -> dict[str, dict]:
    """``components.yaml`` of ``dest``, else of the configured data model folder."""
    for path in (dest / "components.yaml", data_model_dir() / "components.yaml"):
        if path.is_file():
            return yaml.safe_load(path.read_text()) or {}
    return {}


def newest_version(versions: list[dict]) -> str | None:
    """The highest semantic version registered (what the registry would load), not the last
    registered: a 1.9.1 patch registered after 2.0.0 must not win."""
    semantic = [v.get("semanticVersion") for v in versions]
    semantic = [v for v in semantic if isinstance(v, str) and SEMVER.match(v)]
    return max(semantic, key=_version_key) if semantic else None


def refresh(source: SchemaSource, *, dest: Path | None = None, organization: str = ORGANIZATION,
            components: list[str] | None = None, version: str | None = None) -> list[Outcome]:
    """Download, check and write the registered schemas; one ``Outcome`` per component.

    ``components`` (case-insensitive) limits it to those; ``version`` picks one version instead
    of the newest and needs exactly one component. A registered name that is not a component of
    ``components.yaml`` is skipped when not asked for, refused when asked for."""
    dest = Path(dest or data_model_dir())
    if version is not None and (not components or len(components) != 1):
        raise ValueError("--version needs exactly one --component")
    if version is not None and not SEMVER.match(version):
        raise ValueError(f"version {version!r} is not X.Y.Z")
    registered = {info["schemaName"]: info for info in source.list_json_schemas(organization)
                  if info.get("schemaName")}
    policy = load_policy(dest)
    present = present_versions(dest)
    if not components:
        return [_refresh_one(source, dest, organization, name, False, None, policy, present)
                for name in sorted(registered)]
    by_lower = {name.lower(): name for name in registered}
    outcomes: list[Outcome] = []
    for asked in dict.fromkeys(c.strip() for c in components):
        name = by_lower.get(asked.lower())
        if name is None:
            outcomes.append(Outcome(asked, "refused", version=version, old_version=present.get(asked),
                                    reason=f"no schema {asked!r} is registered in {organization}"))
        else:
            outcomes.append(_refresh_one(source, dest, organization, name, True, version, policy, present))
    return outcomes


def _refresh_one(source: SchemaSource, dest: Path, organization: str, name: str, asked: bool,
                 version: str | None, policy: dict[str, dict], present: dict[str, str]) -> Outcome:
    from htan_submission.synapse.errors import SynapseStepError

    old = present.get(name)
    if not COMPONENT_NAME.match(name) or name not in policy:
        reason = (f"{name!r} is not a component in components.yaml (add its kind, key and folder first)"
                  if COMPONENT_NAME.match(name) else f"{name!r} cannot name a schema file")
        return Outcome(name, "refused" if asked else "skipped", version=version, old_version=old, reason=reason)
    versions = source.list_json_schema_versions(organization, name)
    chosen = version or newest_version(versions)
    if chosen is None or (version and not any(v.get("semanticVersion") == version for v in versions)):
        wanted = f"version {version}" if version else "a semantic version"
        return Outcome(name, "refused", version=version, old_version=old,
                       reason=f"{organization}-{name} has no {wanted} registered")
    path = schema_path(dest, name, chosen)
    rules = policy[name]
    component = Component(name=name, version=chosen, path=path, kind=rules.get("kind", "record"),
                          key=tuple(rules.get("key") or ()), folder=rules.get("folder", ""),
                          level=rules.get("level"), imaging=bool(rules.get("imaging")))
    try:
        body = source.get_registered_json_schema(f"{organization}-{name}-{chosen}")
        data = schema_bytes(check_schema(component, body))
    except (RefusedSchema, SynapseStepError) as exc:
        return Outcome(name, "refused", version=chosen, old_version=old, reason=str(exc))
    existing = path.read_bytes() if path.is_file() else None
    if existing == data:
        return Outcome(name, "unchanged", version=chosen, old_version=old, new_bytes=len(data), path=path)
    write_atomically(path, data)
    return Outcome(name, "added" if existing is None else "replaced", version=chosen, old_version=old,
                   old_bytes=None if existing is None else len(existing), new_bytes=len(data), path=path)
