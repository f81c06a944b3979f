"""``htan-submit model refresh`` against the emulator, with the real synapseclient registering the
schemas as the DCC does (the organization's creator is its admin).

Organizations are global in the emulator (one per session), so each test registers its own
``HTAN2Organization<hex>`` and passes it with ``--organization``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from synapseclient.models import JSONSchema, Organization

from htan_submission.cli import main
from htan_submission.datamodel.refresh import check_schema, refresh, schema_bytes
from htan_submission.datamodel.registry import Component, get_component, load_components

pytestmark = pytest.mark.integration
HTAN_SUBMIT = str(Path(sys.executable).with_name("htan-submit"))


def _vendored(name: str) -> tuple[Path, dict]:
    path = get_component(name).path
    return path, json.loads(path.read_text())


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def org(syn) -> str:
    name = f"HTAN2Organization{uuid.uuid4().hex[:8]}"
    Organization(name=name).store(synapse_client=syn)
    return name


@pytest.fixture
def register(syn, org):
    def _register(name: str, version: str, body: dict) -> dict:
        schema = JSONSchema(organization_name=org, name=name)
        schema.store(schema_body=copy.deepcopy(body), version=version, synapse_client=syn)
        return schema.get_body(version=version, synapse_client=syn)

    return _register


@pytest.fixture
def dest(tmp_path) -> Path:
    """A data model folder holding what is vendored today for VitalStatus and Demographics."""
    root = tmp_path / "data_model"
    for name in ("VitalStatus", "Demographics"):
        path, _ = _vendored(name)
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, root / path.parent.name / path.name)
    shutil.copy2(get_component("VitalStatus").path.parents[1] / "components.yaml", root / "components.yaml")
    return root


@pytest.fixture
def cli_env(monkeypatch, emulator, synapse_user):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", synapse_user.token)
    monkeypatch.setenv("HTAN_SYNAPSE_ENDPOINT", emulator.base_url)
    return synapse_user


def test_refresh_downloads_the_newest_versions_and_skips_identical_files(
        emulator, every_call_served, synapse_user, org, register, dest):
    _, vital = _vendored("VitalStatus")
    newer = copy.deepcopy(vital)
    newer["properties"]["CAUSE_OF_DEATH_DETAIL"] = {"description": "Free text", "type": "string"}
    register("VitalStatus", "2.0.0", vital)
    served_newer = register("VitalStatus", "2.1.0", newer)
    register("VitalStatus", "1.9.9", vital)  # registered last, but not the newest version
    _, demographics = _vendored("Demographics")
    served_demographics = register("Demographics", "1.3.0", demographics)
    register("Scratch", "0.0.1", {"type": "object", "properties": {"A": {"type": "string"}}})
    before = _tree(dest)

    env = {**os.environ, "SYNAPSE_AUTH_TOKEN": synapse_user.token, "HTAN_SYNAPSE_ENDPOINT": emulator.base_url}
    result = subprocess.run([HTAN_SUBMIT, "model", "refresh", "--organization", org, "--dest", str(dest)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert synapse_user.token not in result.stdout + result.stderr

    new_file = dest / "v2.1.0" / "HTAN.VitalStatus-v2.1.0-schema.json"
    assert json.loads(new_file.read_text()) == served_newer
    assert new_file.read_bytes() == json.dumps(served_newer, indent=2).encode()
    assert f"VitalStatus: 2.0.0 -> 2.1.0, new file {new_file} ({len(new_file.read_bytes()):,} bytes)" in result.stdout
    # Demographics' registered body differs from the GitHub file only in its $id (the client
    # registers <endpoint>/schema/type/registered/<id>): replaced, same version.
    demographics_file = dest / "v1.3.0" / "HTAN.Demographics-v1.3.0-schema.json"
    assert json.loads(demographics_file.read_text()) == served_demographics
    assert served_demographics["$id"].endswith(f"/schema/type/registered/{org}-Demographics-1.3.0")
    old_size = len(before[f"v1.3.0/{demographics_file.name}"])
    assert (f"Demographics: 1.3.0 -> 1.3.0, replaced {demographics_file} ({old_size:,}"
            f" -> {len(demographics_file.read_bytes()):,} bytes)") in result.stdout
    assert "Scratch: skipped: 'Scratch' is not a component in components.yaml" in result.stdout
    assert f"model refresh ({org} -> {dest}): 1 added, 1 replaced, 0 unchanged, 1 skipped, 0 refused" in result.stdout
    after = _tree(dest)
    assert after["v2.0.0/HTAN.VitalStatus-v2.0.0-schema.json"] == before["v2.0.0/HTAN.VitalStatus-v2.0.0-schema.json"]
    assert set(after) == set(before) | {"v2.1.0/HTAN.VitalStatus-v2.1.0-schema.json"}  # no temp files left

    loaded = load_components(dest)
    assert (loaded["VitalStatus"].version, loaded["Demographics"].version) == ("2.1.0", "1.3.0")
    assert "CAUSE_OF_DEATH_DETAIL" in loaded["VitalStatus"].schema()["properties"]

    stats = {p: (dest / p).stat() for p in after}
    again = subprocess.run([HTAN_SUBMIT, "model", "refresh", "--organization", org, "--dest", str(dest)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "VitalStatus: 2.1.0 unchanged" in again.stdout and "Demographics: 1.3.0 unchanged" in again.stdout
    assert "0 added, 0 replaced, 2 unchanged, 1 skipped, 0 refused" in again.stdout
    for path, stat in stats.items():  # not rewritten: same inode, same modification time
        assert ((dest / path).stat().st_ino, (dest / path).stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_a_schema_the_compiler_cannot_compile_is_refused_and_the_file_kept(
        cli_env, every_call_served, org, register, dest, capsys):
    _, vital = _vendored("VitalStatus")
    broken = copy.deepcopy(vital)
    broken["properties"]["NESTED"] = {"type": "object", "properties": {"a": {"type": "string"}}}
    register("VitalStatus", "2.0.0", broken)  # the version already on disk, with a bad body
    before = _tree(dest)

    code = main(["model", "refresh", "--organization", org, "--dest", str(dest), "--component", "vitalstatus"])
    out = capsys.readouterr()
    assert code == 1
    assert "VitalStatus: refused 2.0.0: the compiler cannot compile it: VitalStatus.properties.NESTED: " \
           "type(s) ['object'] cannot come from a manifest cell; 2.0.0 left as it was" in out.err
    assert "0 added, 0 replaced, 0 unchanged, 0 skipped, 1 refused" in out.out
    assert _tree(dest) == before


def test_refusals_name_the_reason(cli_env, org, register, dest, capsys):
    _, demographics = _vendored("Demographics")
    register("Demographics", "1.4.0", {"type": "string"})
    without_key = copy.deepcopy(demographics)
    del without_key["properties"]["HTAN_PARTICIPANT_ID"]
    without_key["required"].remove("HTAN_PARTICIPANT_ID")
    register("Demographics", "1.5.0", without_key)
    before = _tree(dest)
    base = ["model", "refresh", "--organization", org, "--dest", str(dest), "--component", "Demographics"]

    assert main([*base, "--version", "1.4.0"]) == 1
    assert "Demographics: refused 1.4.0: the root is not an object schema (type 'string')" in capsys.readouterr().err
    assert main(base) == 1  # the newest, 1.5.0
    assert ("refused 1.5.0: key column(s) HTAN_PARTICIPANT_ID from components.yaml are not properties of the "
            "schema") in capsys.readouterr().err
    assert main([*base, "--version", "9.9.9"]) == 1
    assert f"{org}-Demographics has no version 9.9.9 registered" in capsys.readouterr().err
    assert main(["model", "refresh", "--organization", org, "--dest", str(dest), "--component", "Nope"]) == 1
    assert f"Nope: refused: no schema 'Nope' is registered in {org}; nothing written" in capsys.readouterr().err
    assert _tree(dest) == before


def test_endpoint_flag_and_usage_errors(emulator, synapse_user, monkeypatch, org, register, dest, capsys):
    _, demographics = _vendored("Demographics")
    register("Demographics", "1.3.1", demographics)
    monkeypatch.delenv("HTAN_SYNAPSE_ENDPOINT", raising=False)
    monkeypatch.delenv("SYNAPSE_AUTH_TOKEN", raising=False)
    base = ["model", "refresh", "--organization", org, "--dest", str(dest)]
    assert main(base) == 2
    assert "SYNAPSE_AUTH_TOKEN" in capsys.readouterr().err

    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", synapse_user.token)
    assert main([*base, "--version", "1.3.1"]) == 2
    assert "--version needs exactly one --component" in capsys.readouterr().err
    # --endpoint works after the subcommand as well as before it (the top-level flag)
    assert main([*base, "--endpoint", emulator.base_url, "--component", "Demographics"]) == 0
    assert "Demographics: 1.3.0 -> 1.3.1, new file" in capsys.readouterr().out
    assert main(["--endpoint", emulator.base_url, *base]) == 0
    assert "Demographics: 1.3.1 unchanged" in capsys.readouterr().out


class _Source:
    """A stand-in for Synapse that serves bodies the emulator would never accept for registration."""

    def __init__(self, body: object):
        self.body = body

    def list_json_schemas(self, organization):
        return [{"schemaName": "VitalStatus"}]

    def list_json_schema_versions(self, organization, schema_name):
        return [{"semanticVersion": "2.0.0"}]

    def get_registered_json_schema(self, schema_id):
        return self.body


@pytest.mark.parametrize(("body", "reason"), [
    ('{"type": "object", "properties": {', "not valid JSON"),
    ([1, 2], "not a JSON Schema object but a JSON list"),
    ({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}, "not draft-07"),
    ({"type": "object", "properties": {"A": {"type": 5}}}, "not a valid draft-07 schema"),
    ({"type": "object"}, "the schema defines no properties"),
])
def test_bodies_that_are_no_usable_schema_are_refused(dest, body, reason):
    before = _tree(dest)
    [outcome] = refresh(_Source(body), dest=dest, organization="HTAN2Organization")
    assert (outcome.action, outcome.version) == ("refused", "2.0.0")
    assert reason in outcome.reason
    assert outcome.line().endswith("; 2.0.0 left as it was")
    assert _tree(dest) == before


def test_every_vendored_schema_passes_the_checks_and_round_trips_byte_for_byte():
    for component in load_components().values():
        text = component.path.read_text()
        assert schema_bytes(check_schema(component, text)) == component.path.read_bytes(), component.name
    probe = Component(name="X", version="1.0.0", path=Path("x"), kind="record", key=("ID",), folder="X")
    with pytest.raises(ValueError, match="key column"):
        check_schema(probe, {"type": "object", "properties": {"OTHER": {"type": "string"}}})
