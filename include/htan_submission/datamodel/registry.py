"""Which components exist, where their schema files are, and the DCC policy around them.

The schema files are data (``include/data_model/<version>/HTAN.<Component>-v<X.Y.Z>-schema.json``);
this module only finds them (newest version of each component wins) and joins them with
``components.yaml`` (record/file kind, key columns, target folder). Import-light: no pandas.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DATA_MODEL_ENV = "HTAN_DATA_MODEL_DIR"
DEFAULT_DATA_MODEL_DIR = Path(__file__).resolve().parents[2] / "data_model"
SCHEMA_FILE = re.compile(r"^HTAN\.(?P<component>[A-Za-z0-9]+)-v(?P<version>\d+\.\d+\.\d+)-schema\.json$")


class DataModelError(ValueError):
    """The data model folder is missing, unreadable, or names a component it has no schema for."""


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    path: Path
    kind: str  # "record" | "file"
    key: tuple[str, ...]
    folder: str
    level: int | None = None
    imaging: bool = False

    @property
    def record_based(self) -> bool:
        return self.kind == "record"

    @property
    def schema_id(self) -> str:
        """The id Synapse registers it under."""
        return f"HTAN2Organization-{self.name}-{self.version}"

    def schema(self) -> dict:
        return _read_schema(self.path)


def data_model_dir() -> Path:
    return Path(os.environ.get(DATA_MODEL_ENV) or DEFAULT_DATA_MODEL_DIR)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@cache
def _read_schema(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataModelError(f"cannot read schema {path}: {exc}") from exc


@cache
def _load(root: Path) -> dict[str, Component]:
    if not root.is_dir():
        raise DataModelError(f"data model folder {root} does not exist (set ${DATA_MODEL_ENV} or run model refresh)")
    newest: dict[str, tuple[str, Path]] = {}
    for path in root.glob("v*/HTAN.*-schema.json"):
        match = SCHEMA_FILE.match(path.name)
        if not match:
            continue
        name, version = match["component"], match["version"]
        if name not in newest or _version_key(version) > _version_key(newest[name][0]):
            newest[name] = (version, path)
    try:
        policy = yaml.safe_load((root / "components.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataModelError(f"cannot read {root / 'components.yaml'}: {exc}") from exc
    missing = sorted(set(newest) - set(policy))
    if missing:
        raise DataModelError(f"components.yaml has no entry for {', '.join(missing)}: add kind, key and folder")
    return {
        name: Component(name=name, version=version, path=path, kind=policy[name]["kind"],
                        key=tuple(policy[name]["key"]), folder=policy[name]["folder"],
                        level=policy[name].get("level"), imaging=bool(policy[name].get("imaging")))
        for name, (version, path) in sorted(newest.items())
    }


def load_components(root: Path | None = None) -> dict[str, Component]:
    """Every component with a schema file, newest version each, keyed by its exact name."""
    return _load((root or data_model_dir()).resolve())


def component_names() -> list[str]:
    return list(load_components())


def find_component(name: str) -> Component | None:
    """Case-insensitive lookup (``demographics`` -> Demographics); None when there is none."""
    wanted = name.strip().lower()
    return next((c for n, c in load_components().items() if n.lower() == wanted), None)


def get_component(name: str) -> Component:
    component = find_component(name)
    if component is None:
        raise DataModelError(f"unknown component {name!r}; known: {', '.join(component_names())}")
    return component
