"""Scrub image headers in S3 without downloading the image.

Reading: the header parsers read through ``CachedRangeSource`` (ranged GETs, read-ahead cache).
Writing: S3 objects cannot be edited, so the cleaned object is assembled by one multipart upload
onto the same key (``CompleteMultipartUpload`` is atomic: readers see the old object or the new
one, never a mix; any error aborts the upload). Untouched ranges are ``UploadPartCopy`` parts
(server-side, no bytes through us). The catch is S3's 5 MiB minimum for every part but the
last, while our edits are a few hundred bytes each, spread over the file (an IFD per pyramid
level). A small edit at ``x`` is therefore glued to the 5 MiB *before* it inside a temporary
object built server-side (part 1: copy of ``[x - 5 MiB, x)``; part 2, the last, so any size: the
patched bytes), and the final upload copies that temporary object as one part. Only the patched
bytes travel. Edits within the first 5 MiB of the object (the TIFF header and first IFD) have no
5 MiB before them: that range is downloaded, patched and uploaded as a 5 MiB part, which is the
bulk of what a scrub transfers (about 10 MiB whatever the object's size). Objects under 5 MiB are
simply downloaded, patched and put.
"""

from __future__ import annotations

import logging
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from htan_submission.findings import Finding, Report
from htan_submission.phi.images.patches import Patch, Plan, apply_to_bytes
from htan_submission.phi.images.scrub import (
    IMAGE_SUFFIXES,
    detect_format,
    error_finding,
    item_finding,
    plan_source,
    unreadable_finding,
)
from htan_submission.phi.images.source import CachedRangeSource, UnreadableImage

log = logging.getLogger(__name__)
MIN_PART = 5 * 1024 * 1024
MAX_PART = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
MAX_WINDOW_RUNS = 16  # more patched runs than this in one window: one upload with the gaps downloaded
TMP_DIR = ".htan-scrub-tmp"  # temporary objects go to <dir of the key>/.htan-scrub-tmp/<uuid>


@dataclass
class S3ScrubResult:
    """What one object's scan or scrub found and cost. ``bytes_transferred`` is what crossed the
    network through us (downloaded + uploaded); server-side copies are counted apart."""

    uri: str
    format: str | None = None
    findings: list[Finding] = field(default_factory=list)
    changed: bool = False
    bytes_downloaded: int = 0
    bytes_uploaded: int = 0
    bytes_copied_server_side: int = 0
    parts: int = 0

    @property
    def bytes_transferred(self) -> int:
        return self.bytes_downloaded + self.bytes_uploaded

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


# -- part layout ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Copy:
    start: int
    end: int


@dataclass(frozen=True)
class Upload:
    start: int
    end: int


@dataclass(frozen=True)
class Temp:
    """A finished temporary object, copied whole as one part of the final upload."""

    key: str
    size: int


@dataclass(frozen=True)
class Window:
    """A region rebuilt server-side as a temporary object from ``pieces`` (copies of original
    ranges and uploads of patched ranges, in order); the final upload copies it whole."""

    pieces: tuple[Copy | Upload, ...]

    @property
    def start(self) -> int:
        return self.pieces[0].start

    @property
    def end(self) -> int:
        return self.pieces[-1].end


def _runs(patches: list[Patch], merge_gap: int) -> list[list[int]]:
    """Patched ranges, merged when less than ``merge_gap`` apart (downloading a small gap is
    cheaper than another server-side step)."""
    runs: list[list[int]] = []
    for patch in sorted(patches, key=lambda p: p.offset):
        if runs and patch.offset - runs[-1][1] < merge_gap:
            runs[-1][1] = max(runs[-1][1], patch.end)
        else:
            runs.append([patch.offset, patch.end])
    return runs


def layout_parts(patches: list[Patch], size: int, min_part: int = MIN_PART,
                 merge_gap: int = 64 * 1024) -> list[Copy | Upload | Window]:
    """Cover ``[0, size)`` with the final upload's parts: server-side copies of untouched
    ranges, and windows (temporary objects) around the patched runs.

    A window starts ``min_part`` before its first run (so its first part, a copy, is big
    enough), then alternates uploads of patched runs and copies of the original bytes between
    them; runs less than ``2 * min_part`` apart share a window, farther ones get their own, with
    a plain copy part (at least ``min_part``) between. Runs in the first ``min_part`` bytes
    have nothing before them: the window starts with an upload of ``[0, min_part)``. A window
    with more than ``MAX_WINDOW_RUNS`` runs (IFDs packed at the end of a many-page file) becomes
    one upload, its gaps downloaded, rather than dozens of server-side steps.
    """
    parts: list[Copy | Upload | Window] = []
    runs = _runs(patches, merge_gap)
    cursor = 0  # end of what the parts cover so far
    window: list[Copy | Upload] = []
    reach = 0  # the furthest byte the open window covers
    for start, end in runs:
        if window and start - reach < 2 * min_part:
            if start > reach:
                window.append(Copy(reach, start))
            window.append(Upload(start, end))
            reach = max(reach, end)
            continue
        if window:
            parts.append(_close(window))
            cursor = parts[-1].end
        if not parts and start < min_part:
            window = [Upload(0, min(size, max(end, min_part)))]
            reach = window[0].end
            continue
        prefix = start - min_part if start - min_part - cursor >= min_part else cursor
        parts.extend(_copies(cursor, prefix))
        window = [Copy(prefix, start), Upload(start, end)]
        reach = end
    if window:
        parts.append(_close(window))
        cursor = parts[-1].end
    parts.extend(_copies(cursor, size))
    if len(parts) > MAX_PARTS or any(isinstance(p, Window) and p.end - p.start > MAX_PART for p in parts):
        raise UnreadableImage("the edits are spread in a way one S3 upload cannot express")
    return parts


def _close(window: list[Copy | Upload]) -> Copy | Upload | Window:
    """A lone upload (the head of the object) needs no temporary object."""
    merged: list[Copy | Upload] = []
    for piece in window:  # runs inside or touching the head upload extend it
        if merged and piece.end <= merged[-1].end:
            continue
        if merged and isinstance(piece, Upload) and isinstance(merged[-1], Upload) and piece.start <= merged[-1].end:
            merged[-1] = Upload(merged[-1].start, piece.end)
            continue
        merged.append(piece)
    if len(merged) == 1 and isinstance(merged[0], Upload):
        return merged[0]
    uploads = [i for i, piece in enumerate(merged) if isinstance(piece, Upload)]
    if len(uploads) > MAX_WINDOW_RUNS:  # too many server-side steps: download the gaps instead
        first, last = uploads[0], uploads[-1]
        merged[first: last + 1] = [Upload(merged[first].start, merged[last].end)]
    return Window(tuple(merged))


def _copies(start: int, end: int) -> list[Copy]:
    """Split a server-side copy into parts of at most 5 GiB (each at least 5 MiB)."""
    if end <= start:
        return []
    count = -(-(end - start) // MAX_PART)
    step = -(-(end - start) // count)
    return [Copy(a, min(end, a + step)) for a in range(start, end, step)]


def window_steps(window: Window, min_part: int = MIN_PART) -> list[list[Copy | Upload | None]]:
    """The multipart uploads that build a window, in order; ``None`` stands for "the object the
    previous step made". Pieces are appended to the current upload while its last part is big
    enough; a small part must be last, so that upload ends there and the next one starts by
    copying it whole (at least ``min_part``, since every step starts with a big part)."""
    steps: list[list[Copy | Upload | None]] = []
    current: list[Copy | Upload | None] = []
    sizes: list[int] = []
    for piece in window.pieces:
        if current and sizes[-1] < min_part:
            steps.append(current)
            current, sizes = [None], [sum(sizes)]
        current.append(piece)
        sizes.append(piece.end - piece.start)
    steps.append(current)
    return steps


def _size(part: Copy | Upload | Temp) -> int:
    return part.size if isinstance(part, Temp) else part.end - part.start


# -- per object -----------------------------------------------------------------------------
def _uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def _open(client, bucket: str, key: str) -> tuple[CachedRangeSource, dict]:
    head = client.head_object(Bucket=bucket, Key=key)
    source = CachedRangeSource(client, bucket, key, head["ContentLength"], etag=head.get("ETag"))
    return source, head


def scan_s3_object(client, bucket: str, key: str, uid_key: bytes | None = None) -> S3ScrubResult:
    """Report PHI in one object's header, reading only header ranges."""
    result = S3ScrubResult(_uri(bucket, key))
    source, _head = _open(client, bucket, key)
    try:
        plan = plan_source(source, uid_key)
        result.format = plan.format
        result.findings = [item_finding(result.uri, item, scrubbed=False) for item in plan.items]
    except UnreadableImage as exc:
        result.findings = [unreadable_finding(result.uri, str(exc))]
    except Exception as exc:  # a bug must not stop the batch, nor print header bytes
        result.findings = [error_finding(result.uri, exc)]
    result.bytes_downloaded = source.bytes_downloaded
    return result


def scrub_s3_object(client, bucket: str, key: str, dest_key: str | None = None, uid_key: bytes | None = None,
                    min_part: int = MIN_PART) -> S3ScrubResult:
    """Remove PHI from one object's header; write the result to ``dest_key`` (default: the same
    key). An unreadable object is left as it is and reported. Temporary objects live next to
    the key (``<dir>/.htan-scrub-tmp/<uuid>``, so prefix-scoped credentials suffice) and are
    deleted before returning."""
    dest_key = dest_key or key
    result = S3ScrubResult(_uri(bucket, key))
    source, head = _open(client, bucket, key)
    try:
        plan = plan_source(source, uid_key)
    except UnreadableImage as exc:
        result.findings = [unreadable_finding(result.uri, str(exc))]
        result.bytes_downloaded = source.bytes_downloaded
        return result
    except Exception as exc:
        result.findings = [error_finding(result.uri, exc)]
        result.bytes_downloaded = source.bytes_downloaded
        return result
    result.format = plan.format
    tmp_prefix = posixpath.join(posixpath.dirname(dest_key), TMP_DIR, "")
    writer = _Writer(client, bucket, key, dest_key, source, head, result, tmp_prefix, min_part)
    try:
        if plan.patches or dest_key != key:
            writer.write(plan)
            result.changed = bool(plan.patches)
    except Exception as exc:
        log.error("S3 image scrub failed while writing: %s", type(exc).__name__)
        result.findings = [Finding(result.uri, None, None, "image.write_failed",
                                   f"Writing the cleaned object failed ({type(exc).__name__}); the upload was "
                                   "aborted and the object is unchanged. Run the scrub again.")]
        result.bytes_downloaded = source.bytes_downloaded
        return result
    result.findings = [item_finding(result.uri, item, scrubbed=True) for item in plan.items]
    result.bytes_downloaded = source.bytes_downloaded
    if result.changed:
        result.findings.extend(_verify(client, bucket, dest_key, uid_key, result))
    return result


def _verify(client, bucket: str, key: str, uid_key: bytes | None, result: S3ScrubResult) -> list[Finding]:
    source, _head = _open(client, bucket, key)
    try:
        plan = plan_source(source, uid_key)
    except UnreadableImage as exc:
        return [Finding(result.uri, None, None, "image.scrub_failed",
                        f"After scrubbing, the header no longer parses ({exc}). Restore the object from its source.")]
    finally:
        result.bytes_downloaded += source.bytes_downloaded
    return [Finding(result.uri, None, item.location, "image.residual",
                    f"{item.what} is still present after scrubbing. Do not submit the object; report it.")
            for item in plan.items if item.severity == "error"]


class _Writer:
    """Builds the cleaned object: temporary window objects first, then one multipart upload."""

    def __init__(self, client, bucket: str, key: str, dest_key: str, source: CachedRangeSource, head: dict,
                 result: S3ScrubResult, tmp_prefix: str, min_part: int):
        self.client, self.bucket, self.key, self.dest_key = client, bucket, key, dest_key
        self.source, self.head, self.result = source, head, result
        self.tmp_prefix, self.min_part = tmp_prefix, min_part
        self.etag = head.get("ETag")

    def write(self, plan: Plan) -> None:
        if self.source.size < self.min_part:
            data = apply_to_bytes(self.source.read(0, self.source.size), plan.patches)
            self.client.put_object(Bucket=self.bucket, Key=self.dest_key, Body=data, **self._object_args())
            self.result.bytes_uploaded += len(data)
            return
        parts = layout_parts(plan.patches, self.source.size, self.min_part)
        temps: list[str] = []
        try:
            sources = [self._window(part, plan.patches, temps) if isinstance(part, Window) else part for part in parts]
            self._multipart(self.dest_key, sources, plan.patches, self._object_args())
        finally:
            for temp in temps:
                try:
                    self.client.delete_object(Bucket=self.bucket, Key=temp)
                except Exception:  # cleanup is best effort; the name says what it is
                    log.warning("could not delete a temporary scrub object")

    def _object_args(self) -> dict:
        """What the new object keeps from the old one (object tags and ACLs are not copied)."""
        args = {}
        for name in ("ContentType", "ContentEncoding", "ContentDisposition", "CacheControl", "Metadata",
                     "StorageClass", "ServerSideEncryption", "SSEKMSKeyId"):
            if self.head.get(name):
                args[name] = self.head[name]
        return args

    def _window(self, window: Window, patches: list[Patch], temps: list[str]) -> Temp:
        temp: Temp | None = None
        for step in window_steps(window, self.min_part):
            parts = [temp if piece is None else piece for piece in step]
            temp = self._temp(parts, patches, temps)
        assert temp is not None
        return temp

    def _temp(self, parts: list[Copy | Upload | Temp], patches: list[Patch], temps: list[str]) -> Temp:
        key = f"{self.tmp_prefix}{uuid.uuid4().hex}"
        temps.append(key)
        self._multipart(key, parts, patches, {})
        return Temp(key, sum(_size(p) for p in parts))

    def _multipart(self, key: str, parts: list[Copy | Upload | Temp], patches: list[Patch], args: dict) -> None:
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **args)["UploadId"]
        try:
            done = []
            for number, part in enumerate(parts, start=1):
                done.append({"PartNumber": number, "ETag": self._part(key, upload_id, number, part, patches)})
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": done})
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def _part(self, key: str, upload_id: str, number: int, part: Copy | Upload | Temp, patches: list[Patch]) -> str:
        common = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": number}
        if isinstance(part, Upload):
            data = self._patched(part.start, part.end, patches)
            self.result.bytes_uploaded += len(data)
            self.result.parts += 1
            return self.client.upload_part(Body=data, **common)["ETag"]
        if isinstance(part, Copy):
            source, start, end = self.key, part.start, part.end
            condition = {"CopySourceIfMatch": self.etag} if self.etag else {}
        else:
            source, start, end, condition = part.key, 0, part.size, {}
        self.result.bytes_copied_server_side += end - start
        self.result.parts += 1
        response = self.client.upload_part_copy(CopySource={"Bucket": self.bucket, "Key": source},
                                                CopySourceRange=f"bytes={start}-{end - 1}", **condition, **common)
        return response["CopyPartResult"]["ETag"]

    def _patched(self, start: int, end: int, patches: list[Patch]) -> bytes:
        """Bytes [start, end) of the cleaned object: patches as they are, the gaps between them
        read from S3 (only the gaps)."""
        out, cursor = [], start
        for patch in sorted(patches, key=lambda p: p.offset):
            if patch.end <= start or patch.offset >= end:
                continue
            if patch.offset > cursor:
                out.append(self.source.read(cursor, patch.offset - cursor))
            lo, hi = max(patch.offset, start), min(patch.end, end)
            out.append(patch.data[lo - patch.offset: hi - patch.offset])
            cursor = hi
        if cursor < end:
            out.append(self.source.read(cursor, end - cursor))
        data = b"".join(out)
        if len(data) != end - start:
            raise UnreadableImage("the object changed while it was being read")
        return data


# -- prefixes -------------------------------------------------------------------------------
def iter_keys(client, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    """Objects under ``prefix``, without "directory" markers and our temporary objects."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if TMP_DIR not in obj["Key"].split("/") and not obj["Key"].endswith("/"):
                yield obj["Key"], obj["Size"]


def _is_candidate(client, bucket: str, key: str, size: int) -> tuple[bool, int]:
    """Image by name, or by magic bytes (one small ranged GET); returns (candidate, bytes read)."""
    if PurePosixPath(key).suffix.lower() in IMAGE_SUFFIXES:
        return True, 0
    if size == 0:
        return False, 0
    source = CachedRangeSource(client, bucket, key, size, block=4096, max_blocks=1)
    return detect_format(source) is not None, source.bytes_downloaded


def scrub_s3_prefix(client, bucket: str, prefix: str, scan_only: bool = False,
                    uid_key: bytes | None = None) -> Report:
    """Scan (``scan_only``) or scrub in place every image object under ``prefix``. The report's
    summary carries ``bytes_transferred`` (downloaded + uploaded) for the whole prefix."""
    report = Report(extra={"mode": "scan" if scan_only else "in-place", "images": 0, "cleaned": 0, "unreadable": 0,
                           "bytes_downloaded": 0, "bytes_uploaded": 0, "bytes_copied_server_side": 0})
    for key, size in iter_keys(client, bucket, prefix):
        candidate, cost = _is_candidate(client, bucket, key, size)
        report.extra["bytes_downloaded"] += cost
        if not candidate:
            continue
        if scan_only:
            result = scan_s3_object(client, bucket, key, uid_key)
        else:
            result = scrub_s3_object(client, bucket, key, uid_key=uid_key)
        report.inputs.append(result.uri)
        report.extend(result.findings)
        unreadable = any(f.rule == "image.unreadable" for f in result.findings)
        report.extra["unreadable"] += unreadable
        report.extra["images"] += not unreadable
        report.extra["cleaned"] += result.changed and result.ok
        report.extra["bytes_downloaded"] += result.bytes_downloaded
        report.extra["bytes_uploaded"] += result.bytes_uploaded
        report.extra["bytes_copied_server_side"] += result.bytes_copied_server_side
    report.extra["bytes_transferred"] = report.extra["bytes_downloaded"] + report.extra["bytes_uploaded"]
    return report
