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
        if _registered(syn, f"{organization}-{name}-{component.version}"):
            continue  # Synapse refuses a version twice
        register_jsonschema(schema_path=str(component.path), organization_name=organization, schema_name=name,
                            schema_version=component.version, synapse_client=syn)


def _registered(syn, schema_id: str) -> bool:
    from synapseclient.core.exceptions import SynapseHTTPError

    try:
        syn.restGET(f"/schema/type/registered/{schema_id}")
    except SynapseHTTPError as exc:
        if exc.response is not None and exc.response.status_code == 404:
            return False
        raise
    return True


def seed_world(admin: EmulatorAdmin, s3, center: Center, *, submitter: tuple[str, str],
               components: list[str]) -> SeededCenter:
    """Everything the DCC sets up before a center's first submission, idempotently: the center's
    bucket, the submitter and the liaisons (Synapse token ``<name>-token``, as the demo and the
    compose stack seed them), the project tree, the components' schemas, the bucket registered
    as the project's storage location, and the liaisons allowed to annotate reports."""
    from htan_submission.synapse.client import SynapseTarget
    from htan_submission.synapse.files import SynapseFiles
    from htan_submission.transfer import register_storage

    buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if center.s3.bucket not in buckets:
        s3.create_bucket(Bucket=center.s3.bucket)
    known = {u["userName"] for u in admin.users()}
    for name, token in [submitter, *((liaison, f"{liaison}-token") for liaison in liaison_names(center))]:
        if name not in known:
            admin.add_user(name, token)
    seeded = seed_center(admin, center, submitter=submitter[0])
    register_schemas(admin.base_url, components)
    register_storage(center, SynapseFiles.login(SynapseTarget(endpoint=admin.base_url, token=submitter[1])), s3)
    for liaison in liaison_names(center):
        admin.grant(seeded.ingest_folder_id, liaison, "edit")
    return seeded


def liaison_names(center: Center, route: str = "synapse") -> list[str]:
    """The center's liaisons who may decide by ``route`` (an ``airflow:``/``synapse:`` prefix limits
    an entry to one route; see ``signoff.evaluate.is_liaison``)."""
    names = []
    for entry in center.liaisons:
        prefix, colon, name = entry.partition(":")
        if not colon:
            prefix, name = route, entry
        if prefix == route:
            names.append(name)
    return names


def build_parser():
    """The command line (also read by the docker-compose check)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m htan_submission.dev.demo_world",
                                     description="Seed a running Synapse emulator and S3 (MinIO in docker-compose) "
                                                 "with what the DCC sets up for a center. AWS credentials come from "
                                                 "the environment.")
    parser.add_argument("--synapse-url", required=True, help="the emulator's base URL")
    parser.add_argument("--s3-endpoint-url", required=True)
    parser.add_argument("--center", default="HTA200")
    parser.add_argument("--submitter", default="demo_submitter:demo-submitter-token", help="NAME:TOKEN")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m htan_submission.dev.demo_world``: see ``build_parser``."""
    import boto3

    from htan_submission.config import get_center
    from htan_submission.dev.demo_batch import DEMO_COMPONENTS

    args = build_parser().parse_args(argv)
    name, _, token = args.submitter.partition(":")
    center = get_center(args.center)
    s3 = boto3.client("s3", endpoint_url=args.s3_endpoint_url)
    seeded = seed_world(EmulatorAdmin(args.synapse_url), s3, center, submitter=(name, token),
                        components=list(DEMO_COMPONENTS))
    print(f"Seeded {center.center_id}: project {seeded.project_id}, {center.ingest_folder_name} "
          f"{seeded.ingest_folder_id}, bucket s3://{center.s3.bucket}/{center.s3.prefix}, "
          f"{len(DEMO_COMPONENTS)} schemas, liaisons {', '.join(liaison_names(center)) or '(none)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
