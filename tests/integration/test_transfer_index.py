"""index mode end to end: real boto3 on moto, real synapseclient REST on the emulator.

Each object becomes an S3FileHandle in the center's registered bucket and a File entity created
with its annotations in one call; nothing is copied. MD5s come from the manifest, a single-part
ETag or a streamed hash, and are checked against the bytes in S3 by these tests.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import pytest

from htan_submission.synapse.errors import SynapseStepError
from htan_submission.transfer import FileRef, transfer_chunk
from tests.integration.test_transfer_world import actions, make_world, md5

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]


@pytest.fixture
def world(emulator, moto_s3, make_user):
    world = make_world(emulator, moto_s3, make_user)
    world.register()
    return world


def run(world, plan, mode: str = "index", **kwargs):
    return [transfer_chunk(c, world.target(), mode, synapse=world.files, s3=world.s3, **kwargs) for c in plan.chunks]


def test_index_registers_each_object_in_place_with_its_annotations(world, emulator):
    for i in range(12):
        world.put(f"data/s{i:02d}.fastq.gz", size=2000 + i,
                  annotations={"HTAN_DATA_FILE_ID": {"type": "STRING", "value": [f"HTA201_1_D{i}"]}})
    world.put("wes/tumor.bam", component="BulkWESLevel2", size=5000)
    plan = world.plan(max_chunk_files=5)
    assert plan.findings == [] and len(plan.chunks) == 3
    results = run(world, plan)
    assert actions(results) == {"created": 13}
    assert all(r.findings == [] for r in results)
    listed = world.listing("scRNA_seq/Level_1")
    assert sorted(listed) == [f"s{i:02d}.fastq.gz" for i in range(12)]
    for i in range(12):
        stored = listed[f"s{i:02d}.fastq.gz"]
        handle = stored["handle"]["fileHandle"]
        assert handle["bucketName"] == world.bucket
        assert handle["key"] == f"{world.batch_prefix}data/s{i:02d}.fastq.gz"
        assert handle["contentMd5"] == md5(world.data[f"data/s{i:02d}.fastq.gz"])
        assert handle["contentSize"] == 2000 + i
        assert stored["annotations"] == {"HTAN_DATA_FILE_ID": {"type": "STRING", "value": [f"HTA201_1_D{i}"]}}
        assert stored["handle"]["storedBytes"] is None  # no byte went to Synapse storage
    assert list(world.listing("WES/Level_2")) == ["tumor.bam"]
    outcome = next(f for r in results for f in r.files if f.name == "tumor.bam")
    assert outcome.entity_id == world.listing("WES/Level_2")["tumor.bam"]["entity"]["id"]


def test_index_costs_at_most_two_and_a_half_rest_calls_per_file(world):
    for i in range(60):
        world.put(f"data/f{i:03d}.fastq", size=100)
    plan = world.plan()
    started = time.time()
    results = run(world, plan)
    calls = world.rest_calls(started)
    assert actions(results) == {"created": 60}
    assert len(calls) / 60 <= 2.5, f"{len(calls) / 60:.2f} REST calls per file"
    per_file = [c for c in calls if c["route"] in ("/file/v1/externalFileHandle/s3", "/repo/v1/entity/bundle2/create")]
    assert len(per_file) == 120
    assert results[0].rest_calls == len(calls)


def test_a_rerun_skips_what_is_there_and_creates_nothing(world, emulator):
    for i in range(8):
        world.put(f"data/f{i}.fastq")
    plan = world.plan()
    run(world, plan)
    before = emulator.admin.state()
    started = time.time()
    again = run(world, plan)
    assert actions(again) == {"skipped": 8}
    after = emulator.admin.state()
    assert (after["entity"], after["filehandle"]) == (before["entity"], before["filehandle"])
    routes = {c["route"] for c in world.rest_calls(started)}
    assert "/repo/v1/entity/bundle2/create" not in routes and "/file/v1/externalFileHandle/s3" not in routes


class CountingS3:
    """The real client, counting the GETs that read bytes."""

    def __init__(self, client):
        self.client = client
        self.gets: list[str] = []

    def get_object(self, **kwargs):
        self.gets.append(kwargs["Key"].rsplit("/", 1)[-1])
        return self.client.get_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_md5_comes_from_manifest_etag_or_a_streamed_hash_reading_only_when_needed(world):
    small = world.put("data/etag.fastq")  # single-part: its ETag is its MD5
    declared = world.put_multipart("wes/declared.bam", parts=2)
    world.refs[-1] = FileRef(**{**asdict(world.refs[-1]), "md5": md5(declared)})
    hashed = world.put_multipart("wes/hashed.bam", parts=2)  # ETag "<md5 of md5s>-2": must be hashed
    plan = world.plan()
    assert plan.findings == []
    counting = CountingS3(world.s3)
    results = [transfer_chunk(c, world.target(), "index", synapse=world.files, s3=counting) for c in plan.chunks]
    assert actions(results) == {"created": 3}
    assert counting.gets == ["hashed.bam"]  # one streamed read, of the one file whose MD5 was unknown
    stored = {**world.listing("scRNA_seq/Level_1"), **world.listing("WES/Level_2")}
    assert stored["etag.fastq"]["handle"]["fileHandle"]["contentMd5"] == md5(small)
    assert stored["declared.bam"]["handle"]["fileHandle"]["contentMd5"] == md5(declared)
    assert stored["hashed.bam"]["handle"]["fileHandle"]["contentMd5"] == md5(hashed)


def test_a_kms_encrypted_objects_etag_is_not_taken_for_its_md5(world):
    data = b"encrypted at rest" * 100
    world.s3.put_object(Bucket=world.bucket, Key=world.batch_prefix + "data/kms.fastq", Body=data,
                        ServerSideEncryption="aws:kms")
    world.data["data/kms.fastq"] = data
    world.refs.append(FileRef("scRNALevel1", "scRNALevel1.csv", 2, "data/kms.fastq"))
    plain = world.put("data/plain.fastq")
    counting = CountingS3(world.s3)
    plan = world.plan()
    results = [transfer_chunk(c, world.target(), "index", synapse=world.files, s3=counting) for c in plan.chunks]
    assert actions(results) == {"created": 2}
    assert counting.gets == ["kms.fastq"]
    stored = world.listing("scRNA_seq/Level_1")
    assert stored["kms.fastq"]["handle"]["fileHandle"]["contentMd5"] == md5(data)
    assert stored["plain.fastq"]["handle"]["fileHandle"]["contentMd5"] == md5(plain)


def test_an_object_rewritten_after_the_inventory_is_reported_not_registered(world):
    world.put("data/stable.fastq")
    world.put("data/moving.fastq", size=500)
    plan = world.plan()
    world.s3.put_object(Bucket=world.bucket, Key=world.batch_prefix + "data/moving.fastq", Body=b"new bytes!")
    results = run(world, plan)
    assert actions(results) == {"created": 1, "changed": 1}
    [finding] = [f for r in results for f in r.findings]
    assert finding.rule == "transfer.changed_since_inventory"
    assert "data/moving.fastq" in finding.message and finding.file == "scRNALevel1.csv" and finding.row == 3
    assert list(world.listing("scRNA_seq/Level_1")) == ["stable.fastq"]


def test_same_name_other_bytes_is_a_conflict_unless_new_versions_are_allowed(world, emulator, moto_s3, make_user):
    world.put("data/a.fastq", data=b"version one")
    run(world, world.plan())
    world.put("data/a.fastq", data=b"version two!")
    world.refs.pop()
    results = run(world, world.plan())
    assert actions(results) == {"conflict": 1}
    [finding] = results[0].findings
    assert finding.rule == "transfer.md5_conflict" and "allow_new_versions" in finding.message
    stored = world.listing("scRNA_seq/Level_1")["a.fastq"]
    assert stored["entity"]["versionNumber"] == 1
    assert stored["handle"]["fileHandle"]["contentMd5"] == md5(b"version one")

    allowed = world.target(allow_new_versions=True)
    plan = world.plan()
    again = [transfer_chunk(c, allowed, "index", synapse=world.files, s3=world.s3) for c in plan.chunks]
    assert actions(again) == {"new_version": 1}
    stored = world.listing("scRNA_seq/Level_1")["a.fastq"]
    assert stored["entity"]["versionNumber"] == 2
    assert stored["handle"]["fileHandle"]["contentMd5"] == md5(b"version two!")
    third = [transfer_chunk(c, allowed, "index", synapse=world.files, s3=world.s3) for c in plan.chunks]
    assert actions(third) == {"skipped": 1}


def test_missing_target_folders_are_created_once(world, emulator):
    spatial = world.folder("SpatialOmics/Level_3")
    emulator.admin.entity(spatial)  # seeded by the DCC ...
    world.files.rest.syn.restDELETE(f"/entity/{world.folder('SpatialOmics')}")  # ... and gone
    world.put("spatial/a.h5ad", component="SpatialLevel3")
    world.put("spatial/b.h5ad", component="SpatialLevel4")
    results = run(world, world.plan())
    assert actions(results) == {"created": 2}
    ingest = emulator.admin.entity(world.seeded.ingest_folder_id)
    spatial_folders = [c for c in ingest["children"] if emulator.admin.entity(c)["entity"]["name"] == "SpatialOmics"]
    assert len(spatial_folders) == 1
    levels = {emulator.admin.entity(c)["entity"]["name"] for c in emulator.admin.entity(spatial_folders[0])["children"]}
    assert levels == {"Level_3", "Level_4"}


def test_an_unregistered_bucket_stops_the_chunk_with_how_to_fix_it(emulator, moto_s3, make_user):
    world = make_world(emulator, moto_s3, make_user)
    world.put("data/a.fastq")
    plan = world.plan()
    with pytest.raises(SynapseStepError, match="storage register"):
        run(world, plan)
    assert world.listing("scRNA_seq/Level_1") == {}


def test_a_location_registered_by_another_user_cannot_be_used(world, emulator, moto_s3, make_user):
    world.put("data/a.fastq")
    other = make_world(emulator, moto_s3, make_user)
    plan = world.plan()
    with pytest.raises(SynapseStepError, match="no access to the center's project"):
        [transfer_chunk(c, world.target(), "index", synapse=other.files, s3=world.s3) for c in plan.chunks]
    emulator.admin.grant(world.center.synapse_project_id, other.user.user_name, "view")
    emulator.admin.grant(world.seeded.ingest_folder_id, other.user.user_name, "edit")
    with pytest.raises(SynapseStepError, match="storage register"):
        [transfer_chunk(c, world.target(), "index", synapse=other.files, s3=world.s3) for c in plan.chunks]
    assert world.listing("scRNA_seq/Level_1") == {}
