"""The copy pipeline and the S3 reader against in-process fakes: retries of broken reads,
If-Match, bounded memory, resume, URL batching and refresh, and the MD5 check before complete.

The end-to-end path (real boto3 on moto, real synapseclient on the emulator) is in
``tests/integration/test_transfer_copy.py``; these pin the rules one at a time.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from htan_submission.synapse.files import PresignedUrlExpired
from htan_submission.transfer.copy import ByteBudget, ContentMismatch, copy_object, part_size_for
from htan_submission.transfer.s3 import ObjectChanged, S3Object, S3Reader, S3ReadError

MIB = 1024 * 1024


class Body:
    def __init__(self, data: bytes, break_after: int | None = None):
        self.data, self.break_after = data, break_after

    def read(self) -> bytes:
        if self.break_after is not None:
            raise ConnectionResetError("connection reset by peer")
        return self.data

    def iter_chunks(self, size: int):
        sent = 0
        for start in range(0, len(self.data), size):
            if self.break_after is not None and sent >= self.break_after:
                raise ConnectionResetError("connection reset by peer")
            piece = self.data[start:start + size]
            sent += len(piece)
            yield piece


class FakeS3:
    """get_object/head_object of one bucket; ``breaks`` is how many GETs fail mid-body next."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects = {k: (v, hashlib.md5(v).hexdigest()) for k, v in objects.items()}
        self.breaks = 0
        self.gets: list[str] = []
        self.lock = threading.Lock()

    def head_object(self, Bucket, Key):
        data, etag = self.objects[Key]
        return {"ContentLength": len(data), "ETag": f'"{etag}"'}

    def get_object(self, Bucket, Key, IfMatch=None, Range=None):
        data, etag = self.objects[Key]
        if IfMatch and IfMatch.strip('"') != etag:
            raise ClientError({"Error": {"Code": "PreconditionFailed"}, "ResponseMetadata": {"HTTPStatusCode": 412}},
                              "GetObject")
        start, end = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        with self.lock:
            self.gets.append(Range)
            broken = self.breaks > 0
            self.breaks -= broken
        return {"Body": Body(data[start:end + 1], break_after=(end - start) // 2 if broken else None)}


def reader_for(s3: FakeS3, attempts: int = 4) -> S3Reader:
    return S3Reader(s3, "bkt", attempts=attempts, sleep=lambda s: None)


def s3_object(s3: FakeS3, key: str) -> S3Object:
    data, etag = s3.objects[key]
    return S3Object(key=key, size=len(data), etag=etag)


# --- the reader --------------------------------------------------------------------------------

def test_a_broken_read_is_retried_and_the_range_comes_back_whole():
    data = os.urandom(1000)
    s3 = FakeS3({"k": data})
    s3.breaks = 2
    assert reader_for(s3).read(s3_object(s3, "k"), 100, 500) == data[100:600]
    assert s3.gets == ["bytes=100-599"] * 3


def test_a_persistent_read_error_names_the_key():
    s3 = FakeS3({"batches/b1/data/x.bam": b"abc" * 10})
    s3.breaks = 99
    with pytest.raises(S3ReadError, match=r"s3://bkt/batches/b1/data/x.bam .*4 attempt"):
        reader_for(s3).read(s3_object(s3, "batches/b1/data/x.bam"), 0, 30)


def test_a_rewritten_object_is_reported_as_changed_not_read():
    s3 = FakeS3({"k": b"old bytes"})
    seen = s3_object(s3, "k")
    s3.objects["k"] = (b"new bytes", hashlib.md5(b"new bytes").hexdigest())
    with pytest.raises(ObjectChanged, match="ETag"):
        reader_for(s3).read(seen, 0, 9)
    with pytest.raises(ObjectChanged, match="ETag"):
        reader_for(s3).check_unchanged(seen)
    s3.objects["k"] = (b"longer new bytes", seen.etag)
    with pytest.raises(ObjectChanged, match="size"):
        reader_for(s3).check_unchanged(seen)


def test_the_streamed_md5_resumes_after_a_break_and_is_right():
    data = os.urandom(3 * MIB + 17)
    s3 = FakeS3({"k": data})
    s3.breaks = 2
    assert reader_for(s3).md5(s3_object(s3, "k")) == hashlib.md5(data).hexdigest()
    assert len(s3.gets) == 3
    assert s3.gets[1] != "bytes=0-" + str(len(data) - 1)  # resumed from an offset, not from the start


# --- the copy pipeline -------------------------------------------------------------------------

class FakeFiles:
    """Synapse's multipart protocol, in memory, recording every call."""

    def __init__(self, parts_state: str | None = None, expire_once: bool = False):
        self.calls: list[str] = []
        self.parts: dict[int, bytes] = {}
        self.parts_state = parts_state
        self.expire_once = expire_once
        self.lock = threading.Lock()
        self.request: dict = {}

    def start_multipart(self, name, size, md5_hex, part_size, content_type, location):
        self.calls.append("start")
        self.request = {"md5": md5_hex, "size": size, "part_size": part_size}
        parts = max(1, -(-size // part_size))
        return {"uploadId": "u1", "state": "UPLOADING", "partsState": self.parts_state or "0" * parts}

    def presign_parts(self, upload_id, numbers):
        with self.lock:
            self.calls.append(f"presign {len(numbers)}")
        return {n: (f"http://storage/{n}", {}) for n in numbers}

    def put_part(self, url, headers, data):
        with self.lock:
            if self.expire_once:
                self.expire_once = False
                raise PresignedUrlExpired()
            self.calls.append("put")
            self.parts[int(url.rsplit("/", 1)[1])] = data

    def add_part(self, upload_id, number, md5_hex):
        with self.lock:
            self.calls.append("add")
            assert hashlib.md5(self.parts[number]).hexdigest() == md5_hex

    def complete_multipart(self, upload_id):
        self.calls.append("complete")
        return {"state": "COMPLETED", "resultFileHandleId": "fh1"}


def copy(files: FakeFiles, s3: FakeS3, key: str, md5: str | None = None, budget: ByteBudget | None = None,
         part_size: int = 5 * MIB, workers: int = 4, source: str = "the manifest's checksum"):
    with ThreadPoolExecutor(workers) as pool:
        return copy_object(files, reader_for(s3), s3_object(s3, key), "x.bam", md5=md5, md5_source=source,
                           content_type="application/octet-stream", budget=budget or ByteBudget(64 * MIB),
                           part_pool=pool, part_size=part_size)


def test_a_small_file_is_read_once_and_costs_four_synapse_calls():
    data = os.urandom(1000)
    s3, files = FakeS3({"k": data}), FakeFiles()
    copied = copy(files, s3, "k")
    assert copied.file_handle_id == "fh1" and copied.md5 == hashlib.md5(data).hexdigest()
    assert files.calls == ["start", "presign 1", "put", "add", "complete"]
    assert len(s3.gets) == 1 and files.parts[1] == data


def test_a_multipart_file_streams_in_order_within_the_memory_budget():
    data = os.urandom(23 * MIB + 5)
    s3, files = FakeS3({"k": data}), FakeFiles()
    budget = ByteBudget(10 * MIB)
    copied = copy(files, s3, "k", budget=budget, workers=8)
    assert b"".join(files.parts[n] for n in sorted(files.parts)) == data
    assert copied.md5 == files.request["md5"] == hashlib.md5(data).hexdigest()
    assert budget.peak <= 10 * MIB and budget.used == 0
    assert files.calls.count("presign 5") == 1 and files.calls[-1] == "complete"


def test_without_a_known_md5_a_multipart_object_is_hashed_first():
    data = os.urandom(11 * MIB)
    s3, files = FakeS3({"k": data}), FakeFiles()
    s3.objects["k"] = (data, "0" * 32 + "-3")  # a multipart ETag: not an MD5
    copy(files, s3, "k", md5=None)
    assert files.request["md5"] == hashlib.md5(data).hexdigest()
    assert s3.gets[0] == f"bytes=0-{len(data) - 1}"  # the hashing pass, then three ranged part reads
    assert len(s3.gets) == 4


def test_a_resumed_upload_sends_only_the_missing_parts():
    data = os.urandom(15 * MIB)
    s3, files = FakeS3({"k": data}), FakeFiles(parts_state="101")
    copy(files, s3, "k", md5=hashlib.md5(data).hexdigest())
    assert sorted(files.parts) == [2]
    assert files.calls == ["start", "presign 1", "put", "add", "complete"]


def test_a_wrong_md5_stops_before_complete_so_no_file_handle_exists():
    data = os.urandom(12 * MIB)
    s3, files = FakeS3({"k": data}), FakeFiles()
    with pytest.raises(ContentMismatch) as err:
        copy(files, s3, "k", md5="0" * 32)
    assert err.value.actual == hashlib.md5(data).hexdigest() and err.value.source == "the manifest's checksum"
    assert "complete" not in files.calls


def test_a_wrong_md5_of_a_small_file_stops_before_any_upload():
    s3, files = FakeS3({"k": b"abc"}), FakeFiles()
    with pytest.raises(ContentMismatch):
        copy(files, s3, "k", md5="0" * 32)
    assert files.calls == []


def test_an_expired_part_url_is_refreshed_once():
    data = os.urandom(6 * MIB)
    s3, files = FakeS3({"k": data}), FakeFiles(expire_once=True)
    copy(files, s3, "k")
    assert files.calls.count("presign 2") == 1 and files.calls.count("presign 1") == 1
    assert b"".join(files.parts[n] for n in sorted(files.parts)) == data


def test_a_persistent_read_error_fails_the_file_without_completing():
    data = os.urandom(12 * MIB)
    s3, files = FakeS3({"batches/x.bam": data}), FakeFiles()
    s3.breaks = 10**6
    with pytest.raises(S3ReadError, match=r"batches/x\.bam"):
        copy(files, s3, "batches/x.bam", md5=hashlib.md5(data).hexdigest())
    assert "complete" not in files.calls


def test_part_sizes_follow_synapse_limits():
    assert part_size_for(10 * MIB) == 8 * MIB
    assert part_size_for(10 * MIB, preferred=1 * MIB) == 5 * MIB
    assert part_size_for(200_000 * MIB) == 20 * MIB  # at most 10,000 parts


def test_the_budget_blocks_until_bytes_are_released():
    budget = ByteBudget(10)
    budget.acquire(8)
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (budget.acquire(5), got.set()))
    waiter.start()
    with budget._cond:
        assert budget._cond.wait_for(lambda: budget.waiting == 1, timeout=10)
        assert not got.is_set() and budget.used == 8  # blocked inside acquire, holding nothing
    budget.release(8)
    assert got.wait(10)
    waiter.join(10)
    assert budget.used == 5 and budget.peak == 8
    budget.release(5)
    assert budget.acquire(100) == 10  # a part bigger than the budget takes all of it, alone


def test_messages_lose_the_token_and_presigned_signatures():
    from types import SimpleNamespace

    from htan_submission.synapse.files import SynapseFiles

    files = SynapseFiles(SimpleNamespace(syn=SimpleNamespace(credentials=SimpleNamespace(secret="tok-secret"))))
    message = ("ConnectionError: HTTPConnectionPool(host='s3', port=80): Max retries exceeded with url: "
               "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=deadbeef "
               "(token tok-secret, header Bearer abc.def)")
    scrubbed = files.scrub(message)
    for secret in ("deadbeef", "AKIA", "tok-secret", "abc.def"):
        assert secret not in scrubbed
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in scrubbed and "X-Amz-Signature=***" in scrubbed
