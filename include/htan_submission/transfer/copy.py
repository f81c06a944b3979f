"""copy mode: stream an S3 object into Synapse storage through Synapse's multipart upload.

Ranged S3 GETs feed presigned part PUTs; no temporary file. Memory is bounded by a byte budget
shared by every file of a chunk's run (``ByteBudget``: part size x parts in flight), which only
the reading threads wait on, so it cannot deadlock with the PUT threads that free it.

MD5, and why sometimes two passes: Synapse's ``MultipartUploadRequest`` carries the whole file's
``contentMD5Hex`` *before* any part is sent; Synapse stores it as the file handle's MD5 without
ever computing it, and keys resumable uploads by the request, MD5 included. So the MD5 must be
known up front, and it comes from, cheapest first: the manifest's checksum; the ETag of a
single-part, not KMS-encrypted object (which is its MD5; the caller decides, after a HEAD); the
bytes themselves when the file is one part (read once, hashed, then sent from memory); otherwise
a first streamed hashing pass (read once more, never stored). In every case the sending pass
reads the parts in order and hashes them again: an MD5 that does not match the bytes actually
sent stops the upload before ``complete``, so no file handle, and no entity, ever claims an MD5
its bytes do not have.
"""
from __future__ import annotations

import hashlib
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from htan_submission.synapse.files import PRESIGN_BATCH, PresignedUrlExpired, SynapseFiles
from htan_submission.transfer.s3 import S3Object, S3Reader

MIB = 1024 * 1024
MIN_PART = 5 * MIB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MIB


class ContentMismatch(Exception):
    """The bytes read do not have the MD5 the upload was started with."""

    def __init__(self, key: str, expected: str, actual: str, source: str):
        self.key, self.expected, self.actual, self.source = key, expected, actual, source
        super().__init__(f"{key}: the bytes read have MD5 {actual}, but {source} says {expected}")


class ByteBudget:
    """Bytes of part buffers alive at once; ``acquire`` blocks until they fit."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("the budget must allow at least one byte")
        self.limit = limit
        self.used = 0
        self.peak = 0
        self.waiting = 0
        self._cond = threading.Condition()

    def acquire(self, size: int) -> int:
        """Reserve ``size`` bytes (a part larger than the budget waits until it is alone)."""
        size = min(size, self.limit)
        with self._cond:
            self.waiting += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.used + size <= self.limit)
            self.waiting -= 1
            self.used += size
            self.peak = max(self.peak, self.used)
        return size

    def release(self, size: int) -> None:
        with self._cond:
            self.used -= size
            self._cond.notify_all()


@dataclass(frozen=True)
class Copied:
    file_handle_id: str
    md5: str
    bytes_sent: int


def part_size_for(size: int, preferred: int = DEFAULT_PART_SIZE) -> int:
    """Synapse's rule (and synapseclient's ``get_part_size``): at least 5 MiB, at most 10,000 parts."""
    from synapseclient.core.upload.upload_utils import get_part_size

    return get_part_size(preferred, size, MIN_PART, MAX_PARTS)


def copy_object(files: SynapseFiles, reader: S3Reader, obj: S3Object, name: str, *, md5: str | None,
                md5_source: str, content_type: str, budget: ByteBudget, part_pool: ThreadPoolExecutor,
                part_size: int = DEFAULT_PART_SIZE, storage_location_id: int | None = None) -> Copied:
    """Upload ``obj`` as a new Synapse file handle; resumes an upload a killed run left behind."""
    part_size = part_size_for(obj.size, part_size)
    parts = max(1, math.ceil(obj.size / part_size))
    if parts == 1:
        return _copy_single_part(files, reader, obj, name, md5, md5_source, content_type, budget, part_size,
                                 storage_location_id)
    if md5 is None:
        md5, md5_source = reader.md5(obj), "the object's MD5 before sending"
    status = files.start_multipart(name, obj.size, md5, part_size, content_type, storage_location_id)
    if status.get("state") == "COMPLETED":
        return Copied(str(status["resultFileHandleId"]), md5, 0)
    upload_id = status["uploadId"]
    done = status.get("partsState") or "0" * parts
    urls = _PartUrls(files, upload_id, [n for n in range(1, parts + 1) if done[n - 1] != "1"])
    digest = hashlib.md5()
    futures: list[Future] = []
    sent = 0
    try:
        for number in range(1, parts + 1):
            start = (number - 1) * part_size
            length = min(part_size, obj.size - start)
            held = budget.acquire(length)
            try:
                data = reader.read(obj, start, length)
            except BaseException:
                budget.release(held)
                raise
            digest.update(data)
            if done[number - 1] == "1":
                budget.release(held)
                continue
            futures.append(part_pool.submit(_send_part, files, urls, upload_id, number, data, budget, held))
            sent += length
            _raise_first_failure(futures)
        wait(futures)
        _raise_first_failure(futures)
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)
        raise
    actual = digest.hexdigest()
    if actual != md5:
        raise ContentMismatch(obj.key, md5, actual, md5_source)
    completed = files.complete_multipart(upload_id)
    return Copied(str(completed["resultFileHandleId"]), md5, sent)


def _copy_single_part(files: SynapseFiles, reader: S3Reader, obj: S3Object, name: str, md5: str | None,
                      md5_source: str, content_type: str, budget: ByteBudget, part_size: int,
                      storage_location_id: int | None) -> Copied:
    held = budget.acquire(obj.size)
    try:
        data = reader.read(obj, 0, obj.size)
        actual = hashlib.md5(data).hexdigest()
        if md5 is not None and actual != md5:
            raise ContentMismatch(obj.key, md5, actual, md5_source)
        status = files.start_multipart(name, obj.size, actual, part_size, content_type, storage_location_id)
        if status.get("state") == "COMPLETED":
            return Copied(str(status["resultFileHandleId"]), actual, 0)
        upload_id = status["uploadId"]
        sent = 0
        if (status.get("partsState") or "0")[0] != "1":
            _put_and_add(files, _PartUrls(files, upload_id, [1]), upload_id, 1, data)
            sent = obj.size
        completed = files.complete_multipart(upload_id)
        return Copied(str(completed["resultFileHandleId"]), actual, sent)
    finally:
        budget.release(held)


def _send_part(files: SynapseFiles, urls: _PartUrls, upload_id: str, number: int, data: bytes,
               budget: ByteBudget, held: int) -> None:
    try:
        _put_and_add(files, urls, upload_id, number, data)
    finally:
        budget.release(held)


def _put_and_add(files: SynapseFiles, urls: _PartUrls, upload_id: str, number: int, data: bytes) -> None:
    url, headers = urls.get(number)
    try:
        files.put_part(url, headers, data)
    except PresignedUrlExpired:
        url, headers = urls.refresh(number)
        files.put_part(url, headers, data)
    files.add_part(upload_id, number, hashlib.md5(data).hexdigest())


def _raise_first_failure(futures: list[Future]) -> None:
    for future in futures:
        if future.done() and not future.cancelled() and future.exception() is not None:
            raise future.exception()


class _PartUrls:
    """Presigned part URLs fetched lazily, ``PRESIGN_BATCH`` parts per request: one request for
    a small file, and for a large one URLs that are fresh when their part is sent (they expire
    after 15 minutes). A 403 on a PUT refreshes that part's URL once, as synapseclient does."""

    def __init__(self, files: SynapseFiles, upload_id: str, pending: list[int]):
        self._files = files
        self._upload_id = upload_id
        self._pending = pending
        self._position = {number: i for i, number in enumerate(pending)}
        self._urls: dict[int, tuple[str, dict]] = {}
        self._lock = threading.Lock()

    def get(self, number: int) -> tuple[str, dict]:
        with self._lock:
            if number not in self._urls:
                at = self._position.get(number)
                batch = self._pending[at:at + PRESIGN_BATCH] if at is not None else [number]
                self._urls.update(self._files.presign_parts(self._upload_id, batch))
            return self._urls.pop(number)

    def refresh(self, number: int) -> tuple[str, dict]:
        with self._lock:
            return self._files.presign_parts(self._upload_id, [number])[number]
