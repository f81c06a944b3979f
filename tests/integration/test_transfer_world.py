"""A center's world for transfer tests (bucket with a batch, seeded project, submitter), its
helpers, and the storage registration that index mode needs.

The other ``test_transfer_*`` modules import ``World`` and ``make_world`` from here. Each test
gets its own user, bucket and project, so tests never see each other's files.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from htan_submission.config import Center, S3Location
from htan_submission.dev.demo_world import SeededCenter, seed_center
from htan_submission.synapse.client import SynapseTarget
from htan_submission.synapse.files import SynapseFiles
from htan_submission.synapse.throttle import Limiter, Limits
from htan_submission.transfer import FileRef, Plan, TransferTarget, plan_batch, register_storage
from htan_submission.transfer.s3 import S3Reader

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]

_projects = itertools.count(96000001)
UNLIMITED = Limits(max_in_flight=3, requests_per_period=10**9, period_s=60, burst=10**6)
REST_PREFIXES = ("/repo/v1", "/file/v1", "/auth/v1")


@dataclass
class World:
    """One center: bucket + batch prefix in moto, project tree in the emulator, a submitter."""

    emulator: object
    s3: object
    user: object
    center: Center
    seeded: SeededCenter
    files: SynapseFiles
    batch_prefix: str
    data: dict[str, bytes] = field(default_factory=dict)
    refs: list[FileRef] = field(default_factory=list)

    @property
    def bucket(self) -> str:
        return self.center.s3.bucket

    @property
    def batch_url(self) -> str:
        return f"s3://{self.bucket}/{self.batch_prefix}"

    def target(self, **overrides) -> TransferTarget:
        return TransferTarget.for_center(self.center, **overrides)

    def put(self, relpath: str, data: bytes | None = None, component: str = "scRNALevel1", size: int = 1024,
            ref: bool = True, **ref_fields) -> bytes:
        """Store an object under the batch and, by default, reference it from a manifest row."""
        data = os.urandom(size) if data is None else data
        self.s3.put_object(Bucket=self.bucket, Key=self.batch_prefix + relpath, Body=data)
        self.data[relpath] = data
        if ref:
            self.refs.append(FileRef(component=component, manifest=f"{component}.csv", row=len(self.refs) + 2,
                                     filename=relpath, **ref_fields))
        return data

    def put_multipart(self, relpath: str, parts: int = 2, part_size: int = 5 * 1024 * 1024,
                      component: str = "BulkWESLevel2", **ref_fields) -> bytes:
        """An object uploaded in parts, so its ETag is not its MD5."""
        key = self.batch_prefix + relpath
        data = os.urandom(parts * part_size)
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        etags = []
        for n in range(parts):
            answer = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=n + 1,
                                         Body=data[n * part_size:(n + 1) * part_size])
            etags.append({"ETag": answer["ETag"], "PartNumber": n + 1})
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"],
                                          MultipartUpload={"Parts": etags})
        self.data[relpath] = data
        self.refs.append(FileRef(component=component, manifest=f"{component}.csv", row=len(self.refs) + 2,
                                 filename=relpath, **ref_fields))
        return data

    def plan(self, **kwargs) -> Plan:
        return plan_batch(self.batch_url, self.refs, ingest_folder=self.center.ingest_folder_name, s3=self.s3,
                          **kwargs)

    def register(self) -> None:
        register_storage(self.center, self.files, self.s3)

    def reader(self) -> S3Reader:
        return S3Reader(self.s3, self.bucket)

    def folder(self, module_path: str) -> str:
        return self.seeded.folders[f"{self.center.ingest_folder_name}/{module_path}"]

    def listing(self, module_path: str) -> dict[str, dict]:
        """name -> {entity, annotations, handle} of every child of an ingest sub-folder, as stored."""
        admin = self.emulator.admin
        found: dict[str, dict] = {}
        for child_id in admin.entity(self.folder(module_path))["children"]:
            stored = admin.entity(child_id)
            name = stored["entity"]["name"]
            assert name not in found, f"{name} is in {module_path} twice"
            handle = admin.file_handle(stored["entity"]["dataFileHandleId"])
            found[name] = {**stored, "handle": handle}
        return found

    def rest_calls(self, since: float) -> list[dict]:
        """The Synapse REST calls this world's user made since ``since`` (storage PUTs excluded)."""
        return [c for c in self.emulator.admin.calls()
                if c["time"] >= since and c["path"].startswith(REST_PREFIXES) and c.get("user") == self.user.owner_id]


def make_world(emulator, moto_s3, make_user, allow_new_versions: bool = False, limiter: Limiter | None = None,
               prefix: str = "batches/") -> World:
    user = make_user(prefix="submitter")
    bucket = f"htan-{uuid.uuid4().hex[:12]}"
    s3 = moto_s3.client()
    s3.create_bucket(Bucket=bucket)
    center = Center(center_id="HTA201", name="Transfer Test Center", synapse_project_id=f"syn{next(_projects)}",
                    s3=S3Location(bucket=bucket, prefix=prefix), allow_new_versions=allow_new_versions)
    seeded = seed_center(emulator.admin, center, submitter=user.user_name)
    files = SynapseFiles.login(SynapseTarget(endpoint=emulator.base_url, token=user.token),
                               limiter=limiter or Limiter(UNLIMITED))
    return World(emulator=emulator, s3=s3, user=user, center=center, seeded=seeded, files=files,
                 batch_prefix=f"{prefix}b-{uuid.uuid4().hex[:6]}/")


def write_centers_file(world: World, folder: Path, **extra: str) -> Path:
    """A centers.yaml naming only ``world``'s center (``extra``: more keys of it), for the CLI."""
    import yaml

    path = folder / "centers.yaml"
    path.write_text(yaml.safe_dump({"centers": {world.center.center_id: {
        "name": "Transfer Test Center", "synapse_project_id": world.center.synapse_project_id,
        "s3": {"bucket": world.bucket, "prefix": "batches/"}, **extra}}}))
    return path


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def actions(results) -> Counter:
    return Counter(f.action for r in results for f in r.files)


@pytest.fixture
def world(emulator, moto_s3, make_user) -> World:
    return make_world(emulator, moto_s3, make_user)


# --- storage registration (index mode's one-time set-up) ------------------------------------------

def test_register_writes_owner_txt_and_is_idempotent(world):
    first = register_storage(world.center, world.files, world.s3)
    owner = world.s3.get_object(Bucket=world.bucket, Key="batches/owner.txt")["Body"].read().decode()
    assert owner.split() == [world.user.user_name]
    assert first.owner_txt == "written"
    again = register_storage(world.center, world.files, world.s3)
    assert again.storage_location_id == first.storage_location_id
    assert again.owner_txt == "present"


def test_register_keeps_other_names_in_owner_txt(world):
    world.s3.put_object(Bucket=world.bucket, Key="batches/owner.txt", Body=b"someone_else")
    assert register_storage(world.center, world.files, world.s3).owner_txt == "appended"
    owner = world.s3.get_object(Bucket=world.bucket, Key="batches/owner.txt")["Body"].read().decode()
    assert owner.split() == ["someone_else", world.user.user_name]


def test_register_sets_the_project_upload_destination_only_for_who_may(world, emulator):
    submitter = register_storage(world.center, world.files, world.s3)
    assert submitter.project_setting == "not allowed"  # a submitter has edit on ingest, not the project's settings
    emulator.admin.grant(world.center.synapse_project_id, world.user.user_name, "admin")
    admin = register_storage(world.center, world.files, world.s3)
    assert admin.project_setting == "set" and admin.upload_locations == [admin.storage_location_id, 1]
    destination = world.files.upload_destination(world.folder("WES/Level_1"))
    assert destination["storageLocationId"] == admin.storage_location_id
    assert destination["bucket"] == world.bucket
    assert register_storage(world.center, world.files, world.s3).project_setting == "unchanged"


def test_world_rest_calls_only_count_the_users_synapse_calls(world):
    started = time.time()
    world.files.child_id(world.center.synapse_project_id, "v1_ingest")
    assert [c["route"] for c in world.rest_calls(started)] == ["/repo/v1/entity/child"]
