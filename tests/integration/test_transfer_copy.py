"""copy mode end to end: objects streamed from moto into the emulator's Synapse storage through
the multipart upload, with the bytes Synapse stored compared to the bytes in S3.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict

import pytest

from htan_submission.transfer import FileRef, TransferOptions, transfer_chunk
from tests.integration.test_transfer_world import actions, make_world, md5

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]
MIB = 1024 * 1024
SMALL_PARTS = TransferOptions(part_size=5 * MIB, memory_budget=10 * MIB)


@pytest.fixture
def world(emulator, moto_s3, make_user):
    return make_world(emulator, moto_s3, make_user)


def run(world, plan=None, s3=None, options=SMALL_PARTS, **kwargs):
    plan = plan or world.plan()
    return [transfer_chunk(c, world.target(), "copy", synapse=world.files, s3=s3 or world.s3, options=options,
                           **kwargs) for c in plan.chunks]


class FlakyS3:
    """The real client, but the next ``breaks[name]`` GETs of an object die half-way through."""

    def __init__(self, client, breaks: dict[str, int]):
        self.client = client
        self.breaks = dict(breaks)
        self.gets: Counter = Counter()

    def get_object(self, **kwargs):
        name = kwargs["Key"].rsplit("/", 1)[-1]
        self.gets[name] += 1
        response = self.client.get_object(**kwargs)
        if self.breaks.get(name, 0) > 0:
            self.breaks[name] -= 1
            response["Body"] = _BreaksHalfway(response["Body"], int(response["ContentLength"]))
        return response

    def __getattr__(self, name):
        return getattr(self.client, name)


class _BreaksHalfway:
    def __init__(self, body, length: int):
        self.body, self.length = body, length

    def read(self) -> bytes:
        self.body.read(self.length // 2)
        raise ConnectionResetError("Connection reset by peer")

    def iter_chunks(self, size: int):
        yield self.body.read(max(1, self.length // 2))
        raise ConnectionResetError("Connection reset by peer")


def test_small_files_are_copied_byte_for_byte_with_annotations(world):
    for i in range(10):
        world.put(f"data/s{i}.fastq.gz", size=3000 + i, annotations={"n": {"type": "LONG", "value": [str(i)]}})
    results = run(world)
    assert actions(results) == {"created": 10}
    stored = world.listing("scRNA_seq/Level_1")
    for i in range(10):
        entry = stored[f"s{i}.fastq.gz"]
        assert entry["handle"]["storedMd5"] == entry["handle"]["fileHandle"]["contentMd5"] == md5(
            world.data[f"data/s{i}.fastq.gz"])
        assert entry["handle"]["fileHandle"]["bucketName"] != world.bucket  # Synapse's storage, not the center's
        assert entry["annotations"] == {"n": {"type": "LONG", "value": [str(i)]}}
    assert sum(r.bytes_sent for r in results) == sum(3000 + i for i in range(10))


def test_a_small_file_costs_five_rest_calls_the_floor_of_synapses_multipart_api(world):
    for i in range(40):
        world.put(f"data/f{i:02d}.fastq", size=500)
    started = time.time()
    run(world)
    calls = world.rest_calls(started)
    routes = Counter(c["route"] for c in calls)
    for route in ("/file/v1/file/multipart", "/file/v1/file/multipart/{upload_id}/presigned/url/batch",
                  "/file/v1/file/multipart/{upload_id}/add/{part_number}",
                  "/file/v1/file/multipart/{upload_id}/complete", "/repo/v1/entity/bundle2/create"):
        assert routes[route] == 40, route
    assert len(calls) / 40 <= 5.15, f"{len(calls) / 40:.2f} REST calls per file"


def test_a_multipart_file_streams_through_bounded_memory(world):
    data = world.put("wes/big.bam", component="BulkWESLevel2", size=23 * MIB + 3)
    results = run(world)
    assert actions(results) == {"created": 1}
    stored = world.listing("WES/Level_2")["big.bam"]["handle"]
    assert stored["storedMd5"] == stored["fileHandle"]["contentMd5"] == md5(data)
    assert stored["storedBytes"] == len(data)
    assert 0 < results[0].peak_part_bytes <= SMALL_PARTS.memory_budget


def test_a_multipart_object_without_a_known_md5_is_hashed_first(world):
    data = world.put_multipart("wes/parts.bam", parts=3)
    flaky = FlakyS3(world.s3, {})
    results = run(world, s3=flaky)
    assert actions(results) == {"created": 1}
    assert world.listing("WES/Level_2")["parts.bam"]["handle"]["storedMd5"] == md5(data)
    assert flaky.gets["parts.bam"] == 1 + 3  # the hashing pass, then one ranged GET per part


def test_a_wrong_manifest_checksum_is_caught_while_streaming_and_nothing_is_created(world, emulator):
    world.put_multipart("wes/parts.bam", parts=2)
    world.refs[-1] = FileRef(**{**asdict(world.refs[-1]), "md5": "0" * 32})
    plan = world.plan()
    assert plan.findings == []  # a multipart ETag cannot contradict it; the bytes will
    handles_before = emulator.admin.state()["filehandle"]
    results = run(world, plan)
    assert actions(results) == {"conflict": 1}
    [finding] = results[0].findings
    assert finding.rule == "transfer.md5_conflict" and "0" * 32 in finding.message
    assert world.listing("WES/Level_2") == {}
    assert emulator.admin.state()["filehandle"] == handles_before  # stopped before complete


def test_an_interrupted_upload_resumes_with_only_the_missing_parts(world, emulator):
    data = world.put("wes/resume.bam", component="BulkWESLevel2", size=12 * MIB)
    upload = world.files.start_multipart("resume.bam", len(data), md5(data), 5 * MIB, "application/octet-stream",
                                         None)
    urls = world.files.presign_parts(upload["uploadId"], [1])
    world.files.put_part(*urls[1], data[:5 * MIB])
    world.files.add_part(upload["uploadId"], 1, md5(data[:5 * MIB]))
    started = time.time()
    results = run(world)
    assert actions(results) == {"created": 1}
    puts = [c for c in emulator.admin.calls() if c["time"] >= started and c["path"].startswith("/_storage/upload/")]
    assert sorted(c["path"].rsplit("/", 1)[1] for c in puts) == ["2", "3"]
    assert results[0].files[0].bytes_sent == len(data) - 5 * MIB
    assert world.listing("WES/Level_2")["resume.bam"]["handle"]["storedMd5"] == md5(data)


def test_an_s3_read_error_mid_stream_retries_the_part(world):
    small = world.put("data/small.fastq", size=2000)
    big = world.put("wes/big.bam", component="BulkWESLevel2", size=11 * MIB)
    flaky = FlakyS3(world.s3, {"small.fastq": 2, "big.bam": 2})
    results = run(world, s3=flaky)
    assert actions(results) == {"created": 2}
    assert flaky.gets["small.fastq"] == 3 and flaky.gets["big.bam"] == 3 + 2
    assert world.listing("scRNA_seq/Level_1")["small.fastq"]["handle"]["storedMd5"] == md5(small)
    assert world.listing("WES/Level_2")["big.bam"]["handle"]["storedMd5"] == md5(big)


def test_a_persistent_s3_read_error_fails_that_file_only_and_leaves_nothing_half_made(world, emulator):
    world.put("data/fine.fastq")
    world.put("wes/broken.bam", component="BulkWESLevel2", size=11 * MIB)
    flaky = FlakyS3(world.s3, {"broken.bam": 10**6})
    handles_before = emulator.admin.state()["filehandle"]
    results = run(world, s3=flaky)
    assert actions(results) == {"created": 1, "failed": 1}
    [finding] = [f for r in results for f in r.findings]
    assert finding.rule == "transfer.failed"
    assert f"{world.batch_prefix}wes/broken.bam" in finding.message
    assert finding.file == "BulkWESLevel2.csv" and finding.row == 3
    assert world.listing("WES/Level_2") == {}
    assert emulator.admin.state()["filehandle"] == handles_before + 1  # only fine.fastq's
    assert list(world.listing("scRNA_seq/Level_1")) == ["fine.fastq"]


def test_an_object_rewritten_between_plan_and_copy_is_not_uploaded(world):
    world.put("wes/moving.bam", component="BulkWESLevel2", size=6 * MIB)
    plan = world.plan()
    world.s3.put_object(Bucket=world.bucket, Key=world.batch_prefix + "wes/moving.bam", Body=b"x" * (6 * MIB))
    results = run(world, plan)
    assert actions(results) == {"changed": 1}
    assert results[0].findings[0].rule == "transfer.changed_since_inventory"
    assert world.listing("WES/Level_2") == {}
