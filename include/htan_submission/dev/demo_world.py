"""Seed a Synapse emulator with what the DCC would have set up for a center.

The center's project at the id centers.yaml names, its ``v<N>_{ingest,staging,release}``
folders with the module tree under ingest, a submitter with edit access to ingest, and the
center's liaisons. Used by ``make demo`` and by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from htan_submission.config import Center
from htan_submission.layout import ingest_paths, release_folders
from synapse_emulator.launch import EmulatorAdmin

DCC_ADMIN = "dcc_admin"


@dataclass(frozen=True)
class SeededCenter:
    project_id: str
    ingest_folder_id: str
    folders: dict[str, str]


def seed_center(admin: EmulatorAdmin, center: Center, submitter: str | None = None,
                dcc_token: str = "dcc-admin-token") -> SeededCenter:
    """Idempotent: seeding twice finds what is there."""
    if not any(u["userName"] == DCC_ADMIN for u in admin.users()):
        admin.add_user(DCC_ADMIN, dcc_token)
    project = admin.seed_entity(DCC_ADMIN, "Project", f"HTAN {center.center_id} {center.synapse_project_id}",
                                entity_id=center.synapse_project_id)
    folders: dict[str, str] = {}
    for name in release_folders(center.release):
        folders[name] = admin.seed_entity(DCC_ADMIN, "Folder", name, parent_id=project["id"])["id"]
    ingest = folders[center.ingest_folder_name]
    for path in ingest_paths():
        parent_path, _, leaf = path.rpartition("/")
        parent_id = folders[f"{center.ingest_folder_name}/{parent_path}"] if parent_path else ingest
        folders[f"{center.ingest_folder_name}/{path}"] = admin.seed_entity(
            DCC_ADMIN, "Folder", leaf, parent_id=parent_id)["id"]
    if submitter:
        admin.grant(project["id"], submitter, "view")
        admin.grant(ingest, submitter, "edit")
    return SeededCenter(project_id=project["id"], ingest_folder_id=ingest, folders=folders)


def register_schemas(endpoint: str, components: list[str], token: str = "dcc-admin-token",
                     organization: str = "HTAN2Organization") -> None:
    """What the DCC does once: the components' JSON Schemas registered in Synapse (the RecordSets
    and the verification bind and validate against them). Idempotent."""
    import tempfile

    from synapseclient.extensions.curator import register_jsonschema
    from synapseclient.models import Organization

    from htan_submission.datamodel import get_component
    from htan_submission.synapse.client import SynapseTarget, connect

    syn = connect(SynapseTarget(endpoint=endpoint, token=token), tempfile.mkdtemp(prefix="htan-dcc-"))
    try:
        Organization(name=organization).store(synapse_client=syn)
    except Exception as exc:  # already there on a second run
        if "409" not in str(exc) and "exist" not in str(exc).lower():
            raise
    for name in components:
        component = get_component(name)
        register_jsonschema(schema_path=str(component.path), organization_name=organization, schema_name=name,
                            schema_version=component.version, synapse_client=syn)
