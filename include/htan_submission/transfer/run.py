"""Transfer one chunk: every planned file ends up in its folder exactly once, or as a finding.

Idempotent by construction. Synapse allows one entity per (folder, name), and the File entity
with its annotations is created in one atomic call, after its file handle is complete: a run
killed at any point leaves at most an orphan upload or file handle, never a half-made entity.
On the next run a file already in its folder with the same MD5 is skipped; with another MD5 it
becomes a new version only when the center allows it (``allow_new_versions``), otherwise a
``transfer.md5_conflict``. A 409 on create (someone, or our own retried POST, got there first) is
reconciled by looking the entity up. What already exists is learnt with one paged children
listing per folder, not one look-up per file.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field

from htan_submission.config import Center
from htan_submission.findings import Finding
from htan_submission.synapse.client import SynapseTarget
from htan_submission.synapse.errors import SynapseStepError
from htan_submission.synapse.files import NameConflict, SynapseFiles
from htan_submission.synapse.rest import http_status
from htan_submission.transfer.copy import DEFAULT_PART_SIZE, ByteBudget, ContentMismatch, copy_object
from htan_submission.transfer.index import find_storage_location, index_object
from htan_submission.transfer.plan import Chunk, PlannedFile
from htan_submission.transfer.s3 import ObjectChanged, S3Reader, S3ReadError, s3_client

log = logging.getLogger("htan_submission.transfer")
MODES = ("index", "copy")
ACTIONS = ("created", "skipped", "new_version", "conflict", "changed", "failed")
MANIFEST_MD5 = "the manifest's checksum"
LIAISON_FIX = "Ask your HTAN data liaison to create {folder} (the DCC creates it per release) or to share it."


@dataclass(frozen=True)
class TransferTarget:
    """Where a chunk goes in Synapse and what the center allows there."""

    project_id: str
    ingest_folder: str
    allow_new_versions: bool = False
    create_folders: bool = True
    storage_base_key: str = ""  # index: the prefix the center's bucket is registered under
    storage_location_id: int | None = None  # index: that external S3 location (looked up when None)
    copy_storage_location_id: int | None = None  # copy: None = Synapse's own storage

    @classmethod
    def for_center(cls, center: Center, **overrides) -> TransferTarget:
        fields = {"project_id": center.synapse_project_id, "ingest_folder": center.ingest_folder_name,
                  "allow_new_versions": center.allow_new_versions, "storage_base_key": center.s3.prefix.strip("/")}
        return cls(**{**fields, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TransferTarget:
        return cls(**data)


@dataclass(frozen=True)
class TransferOptions:
    workers: int = 8  # files in flight
    part_workers: int = 8  # part PUTs in flight (copy)
    part_size: int = DEFAULT_PART_SIZE
    memory_budget: int = 64 * 1024 * 1024  # part bytes held at once (copy); at least one part
    progress_every_s: float = 10.0


@dataclass
class FileOutcome:
    key: str
    name: str
    target: str
    action: str
    entity_id: str | None = None
    version: int | None = None
    file_handle_id: str | None = None
    md5: str | None = None
    bytes_sent: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChunkResult:
    """What a chunk did: small and serialisable (it goes back through XCom)."""

    chunk_id: str
    mode: str
    files: list[FileOutcome] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    rest_calls: int = 0
    seconds: float = 0.0
    peak_part_bytes: int = 0

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(f.action for f in self.files)
        return {action: found.get(action, 0) for action in ACTIONS}

    @property
    def bytes_sent(self) -> int:
        return sum(f.bytes_sent for f in self.files)

    def to_dict(self) -> dict:
        return {"chunk_id": self.chunk_id, "mode": self.mode, "counts": self.counts, "bytes_sent": self.bytes_sent,
                "rest_calls": self.rest_calls, "seconds": round(self.seconds, 3),
                "peak_part_bytes": self.peak_part_bytes, "files": [f.to_dict() for f in self.files],
                "findings": [f.to_dict() for f in self.findings]}

    @classmethod
    def from_dict(cls, data: dict) -> ChunkResult:
        return cls(chunk_id=data["chunk_id"], mode=data["mode"], files=[FileOutcome(**f) for f in data["files"]],
                   findings=[Finding(**f) for f in data["findings"]], rest_calls=data.get("rest_calls", 0),
                   seconds=data.get("seconds", 0.0), peak_part_bytes=data.get("peak_part_bytes", 0))


def transfer_chunk(chunk: Chunk | dict, target: TransferTarget | dict, mode: str, *,
                   synapse: SynapseFiles | SynapseTarget, s3=None, options: TransferOptions = TransferOptions(),
                   on_file: Callable[[FileOutcome], None] | None = None) -> ChunkResult:
    """Move one chunk's files into Synapse (``mode`` index or copy) and say what happened.

    ``on_file`` is called after each file (progress, tests); if it raises, no further file is
    started and the exception propagates once the files in flight are done.
    A problem of the whole chunk (no ingest folder, bucket not registered) raises
    ``SynapseStepError``; a problem of one file is a finding and the others go on.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    chunk = Chunk.from_dict(chunk) if isinstance(chunk, dict) else chunk
    target = TransferTarget.from_dict(target) if isinstance(target, dict) else target
    files = synapse if isinstance(synapse, SynapseFiles) else SynapseFiles.login(synapse)
    client = s3 or s3_client(max_pool_connections=options.workers + options.part_workers + 4)
    started, calls_before = time.monotonic(), files.calls
    result = ChunkResult(chunk_id=chunk.id, mode=mode)
    run = _ChunkRun(chunk, target, mode, files, S3Reader(client, chunk.batch.bucket), options, result)
    try:
        run.execute(on_file)
    finally:
        result.rest_calls = files.calls - calls_before
        result.seconds = time.monotonic() - started
        result.peak_part_bytes = run.budget.peak
        run.log_progress(final=True)
    return result


class _ChunkRun:
    """The state of one chunk's run: resolved folders, what they already hold, progress."""

    def __init__(self, chunk: Chunk, target: TransferTarget, mode: str, files: SynapseFiles, reader: S3Reader,
                 options: TransferOptions, result: ChunkResult):
        self.chunk, self.target, self.mode, self.files, self.reader = chunk, target, mode, files, reader
        self.options, self.result = options, result
        self.budget = ByteBudget(max(options.memory_budget, options.part_size))
        self.folder_ids: dict[str, str] = {}
        self.existing: dict[str, dict[str, str]] = {}
        self.location_id: int | None = target.storage_location_id
        self.part_pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._last_log = time.monotonic()
        self._done_bytes = 0
        self._sizes = {p.key: p.size for p in chunk.files}

    def execute(self, on_file: Callable[[FileOutcome], None] | None) -> None:
        runnable = self._prepare_folders()
        if self.mode == "index" and runnable and self.location_id is None:
            base_key = self.target.storage_base_key.strip("/")
            if base_key and not self.chunk.batch.prefix.startswith(base_key + "/"):
                raise SynapseStepError("transfer", f"the batch {self.chunk.batch.url} is outside the registered "
                                                   f"prefix {base_key}/ of the center's bucket",
                                       fix="Put batches under the center's s3.prefix (centers.yaml).")
            self.location_id = find_storage_location(self.files, self.chunk.batch.bucket, base_key)
        with ThreadPoolExecutor(self.options.workers, thread_name_prefix="transfer-file") as file_pool, \
                ThreadPoolExecutor(self.options.part_workers, thread_name_prefix="transfer-part") as part_pool:
            self.part_pool = part_pool
            futures = {file_pool.submit(self._one_file, planned): planned for planned in runnable}
            try:
                for future in as_completed(futures):
                    outcome, finding = future.result()
                    self._record(outcome, finding)
                    if on_file is not None:
                        on_file(outcome)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    # --- folders ---------------------------------------------------------------------------------

    def _prepare_folders(self) -> list[PlannedFile]:
        """Resolve (or create) each target folder and list what it holds; the files of a folder
        that cannot be had become findings."""
        runnable: list[PlannedFile] = []
        by_target: dict[str, list[PlannedFile]] = {}
        for planned in self.chunk.files:
            by_target.setdefault(planned.target, []).append(planned)
        for path, planned_files in by_target.items():
            try:
                folder_id = self._folder(path)
                self.existing[path] = {c["name"]: c["id"] for c in self.files.list_children(folder_id)}
            except SynapseStepError:
                raise
            except Exception as exc:
                for planned in planned_files:
                    self._record(_outcome(planned, "failed"), planned.finding(
                        "transfer.failed", f"target folder {path} is not usable: {self._describe(exc)}"))
                continue
            runnable.extend(planned_files)
        return runnable

    def _folder(self, path: str) -> str:
        if path in self.folder_ids:
            return self.folder_ids[path]
        parent_path, _, name = path.rpartition("/")
        if not parent_path:
            try:
                found = self.files.child_id(self.target.project_id, name)
            except Exception as exc:
                if http_status(exc) not in (401, 403, 404):
                    raise
                raise SynapseStepError("transfer", f"no access to the center's project {self.target.project_id}",
                                       fix=LIAISON_FIX.format(folder=name)) from None
            if found is None:
                raise SynapseStepError("transfer", f"{self.target.project_id} has no folder {name} that you can see",
                                       fix=LIAISON_FIX.format(folder=name))
        else:
            parent_id = self._folder(parent_path)
            found = self.files.child_id(parent_id, name)
            if found is None:
                if not self.target.create_folders:
                    raise RuntimeError(f"folder {path} does not exist and creating folders is off")
                found = self.files.ensure_folder(parent_id, name)
        self.folder_ids[path] = found
        return found

    # --- one file --------------------------------------------------------------------------------

    def _one_file(self, planned: PlannedFile) -> tuple[FileOutcome, Finding | None]:
        try:
            md5 = self._known_md5(planned)
            existing_id = self.existing[planned.target].get(planned.name)
            if existing_id is not None:
                return self._against_existing(planned, existing_id, md5)
            return self._create(planned, self.folder_ids[planned.target], md5)
        except ObjectChanged as exc:
            return _outcome(planned, "changed"), planned.finding(
                "transfer.changed_since_inventory", f"not transferred: {exc.reason}; re-run the inventory and "
                                                    "validation for the new bytes")
        except ContentMismatch as exc:
            if exc.source == MANIFEST_MD5:
                return _outcome(planned, "conflict"), planned.finding(
                    "transfer.md5_conflict", f"not transferred: the bytes have MD5 {exc.actual} but the manifest's "
                                             f"checksum is {exc.expected}")
            return _outcome(planned, "changed"), planned.finding(
                "transfer.changed_since_inventory", f"not transferred: its bytes changed while being read ({exc})")
        except S3ReadError as exc:
            return _outcome(planned, "failed"), planned.finding("transfer.failed", self._describe(exc))
        except Exception as exc:
            log.debug("transfer of %s failed: %s", planned.key, self._describe(exc))
            return _outcome(planned, "failed"), planned.finding(
                "transfer.failed", f"{planned.key} was not transferred: {self._describe(exc)}")

    def _known_md5(self, planned: PlannedFile) -> str | None:
        """The MD5 known without reading a byte: the manifest's, else a trustworthy ETag. The
        HEAD that decides the latter also catches an object changed since the inventory."""
        etag_is_md5 = self.reader.check_unchanged(planned.s3_object)
        return planned.md5 or (planned.s3_object.etag_md5 if etag_is_md5 else None)

    def _create(self, planned: PlannedFile, folder_id: str, md5: str | None) -> tuple[FileOutcome, Finding | None]:
        handle_id, md5, sent = self._new_file_handle(planned, md5)
        try:
            entity = self.files.create_file(folder_id, planned.name, handle_id, planned.annotations)
        except NameConflict:
            found = self.files.child_id(folder_id, planned.name)
            if found is None:
                raise
            return self._against_existing(planned, found, md5=md5, our_handle=(handle_id, sent))
        return _outcome(planned, "created", entity, handle_id, md5, sent), None

    def _against_existing(self, planned: PlannedFile, entity_id: str, md5: str | None,
                          our_handle: tuple[str, int] | None = None) -> tuple[FileOutcome, Finding | None]:
        """Skip, version or refuse, for a name already in the folder."""
        bundle = self.files.file_bundle(entity_id)
        entity = bundle["entity"]
        current = str(entity.get("dataFileHandleId"))
        if our_handle and current == our_handle[0]:
            return _outcome(planned, "created", entity, current, md5, our_handle[1]), None  # our retried POST
        handle = next((h for h in bundle.get("fileHandles") or [] if str(h.get("id")) == current), {})
        existing_md5 = (handle.get("contentMd5") or "").lower()
        if md5 is None:
            md5 = self.reader.md5(planned.s3_object)
        if existing_md5 == md5:
            return _outcome(planned, "skipped", entity, current, md5), None
        if not self.target.allow_new_versions:
            return _outcome(planned, "conflict", entity, current, md5), planned.finding(
                "transfer.md5_conflict",
                f"{self.target.project_id}/{planned.target}/{planned.name} already exists ({entity['id']}) with MD5 "
                f"{existing_md5 or 'unknown'}, this file's MD5 is {md5}; the center does not allow new versions "
                "(allow_new_versions in centers.yaml), so it was left as it is")
        if our_handle:
            handle_id, sent = our_handle
        else:
            handle_id, md5, sent = self._new_file_handle(planned, md5)
        updated = self.files.new_version(entity, handle_id, planned.annotations)
        return _outcome(planned, "new_version", updated, handle_id, md5, sent), None

    def _new_file_handle(self, planned: PlannedFile, md5: str | None) -> tuple[str, str, int]:
        obj = planned.s3_object
        content_type = mimetypes.guess_type(planned.name)[0] or "application/octet-stream"
        if self.mode == "index":
            indexed = index_object(self.files, self.reader, obj, planned.name, md5=md5,
                                   storage_location_id=int(self.location_id), content_type=content_type)
            return indexed.file_handle_id, indexed.md5, 0
        source = MANIFEST_MD5 if planned.md5 else "the object's MD5 before sending"
        copied = copy_object(self.files, self.reader, obj, planned.name, md5=md5, md5_source=source,
                             content_type=content_type, budget=self.budget, part_pool=self.part_pool,
                             part_size=self.options.part_size,
                             storage_location_id=self.target.copy_storage_location_id)
        return copied.file_handle_id, copied.md5, copied.bytes_sent

    # --- reporting -------------------------------------------------------------------------------

    def _record(self, outcome: FileOutcome, finding: Finding | None) -> None:
        with self._lock:
            self.result.files.append(outcome)
            self._done_bytes += self._sizes.get(outcome.key, 0)
            if finding is not None:
                self.result.findings.append(finding)
        log.debug("%s: %s %s -> %s", self.chunk.id, outcome.action, outcome.key, outcome.entity_id)
        if time.monotonic() - self._last_log >= self.options.progress_every_s:
            self.log_progress()

    def log_progress(self, final: bool = False) -> None:
        with self._lock:
            self._last_log = time.monotonic()
            done, done_bytes = len(self.result.files), self._done_bytes
            counts = Counter(f.action for f in self.result.files)
        log.info("%s %s: %d/%d files, %.1f/%.1f MiB (%s)", self.chunk.id, "done" if final else "progress", done,
                 len(self.chunk.files), done_bytes / 1024**2, self.chunk.bytes / 1024**2,
                 ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing yet")

    def _describe(self, exc: BaseException) -> str:
        return self.files.scrub(f"{type(exc).__name__}: {exc}")


def _outcome(planned: PlannedFile, action: str, entity: dict | None = None, handle_id: str | None = None,
             md5: str | None = None, sent: int = 0) -> FileOutcome:
    return FileOutcome(key=planned.key, name=planned.name, target=planned.target, action=action,
                       entity_id=(entity or {}).get("id"), version=(entity or {}).get("versionNumber"),
                       file_handle_id=handle_id, md5=md5, bytes_sent=sent)
