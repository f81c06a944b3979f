"""Join a batch's S3 inventory with the manifests' FILENAME references, and cut it into chunks.

The plan is what Airflow maps over: each chunk is a small JSON description (keys, sizes, ETags,
target folder path, where each file is referenced, and the annotations to create it with), never
bytes. Everything that can be known before a byte moves becomes a finding here: a file referenced
but missing, present but unreferenced, an unsafe FILENAME or key, a name Synapse would refuse, an
empty file, a manifest checksum that contradicts a single-part ETag.

Inputs are plain values (references as ``(component, manifest, row, FILENAME)``), so the planner
does not depend on how manifests are read or which components the data model knows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from htan_submission.findings import Finding, Report
from htan_submission.transfer.folders import component_folder, target_path
from htan_submission.transfer.keys import Batch, entity_name, name_problem, unsafe_path
from htan_submission.transfer.s3 import MD5_HEX, S3Object

DEFAULT_CHUNK_FILES = 500
DEFAULT_CHUNK_BYTES = 20 * 1024**3
ANNOTATION_TYPES = {"STRING", "DOUBLE", "LONG", "TIMESTAMP_MS", "BOOLEAN"}
IGNORED_NAMES = {"owner.txt"}  # the external-storage handshake object, never data


@dataclass(frozen=True)
class FileRef:
    """One manifest row's FILENAME (relative to the batch prefix). ``md5`` is the row's checksum
    when it is an MD5; ``annotations`` are Synapse annotations v2 (``{key: {type, value: [..]}}``)
    to create the File entity with."""

    component: str | None
    manifest: str
    row: int | None
    filename: str
    md5: str | None = None
    annotations: dict | None = None

    @classmethod
    def of(cls, value: FileRef | tuple | dict) -> FileRef:
        if isinstance(value, FileRef):
            return value
        if isinstance(value, dict):
            return cls(**value)
        return cls(*value)


@dataclass(frozen=True)
class Source:
    """Where a planned file is referenced: the manifest row its findings point at."""

    component: str | None
    manifest: str
    row: int | None

    def to_dict(self) -> dict:
        return {"component": self.component, "manifest": self.manifest, "row": self.row}


@dataclass
class PlannedFile:
    key: str
    size: int
    etag: str
    target: str
    name: str
    md5: str | None = None
    sources: list[Source] = field(default_factory=list)
    annotations: dict | None = None

    @property
    def s3_object(self) -> S3Object:
        return S3Object(key=self.key, size=self.size, etag=self.etag)

    def finding(self, rule: str, message: str, severity: str = "error") -> Finding:
        """A finding about this file, pointing at its manifest row when it has one."""
        if self.sources:
            source = self.sources[0]
            return Finding(file=source.manifest, row=source.row, column=None, rule=rule,
                           message=f"{self.key}: {message}", severity=severity, component=source.component)
        return Finding(file=self.key, row=None, column=None, rule=rule, message=message, severity=severity)

    def to_dict(self) -> dict:
        return {"key": self.key, "size": self.size, "etag": self.etag, "target": self.target, "name": self.name,
                "md5": self.md5, "sources": [s.to_dict() for s in self.sources], "annotations": self.annotations}

    @classmethod
    def from_dict(cls, data: dict) -> PlannedFile:
        return cls(key=data["key"], size=int(data["size"]), etag=data["etag"], target=data["target"],
                   name=data["name"], md5=data.get("md5"), sources=[Source(**s) for s in data.get("sources") or []],
                   annotations=data.get("annotations"))


@dataclass
class Chunk:
    """One unit of mapped work: files of one batch, grouped by target folder."""

    id: str
    batch: Batch
    files: list[PlannedFile]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict:
        return {"id": self.id, "batch": self.batch.to_dict(), "bytes": self.bytes,
                "files": [f.to_dict() for f in self.files]}

    @classmethod
    def from_dict(cls, data: dict) -> Chunk:
        return cls(id=data["id"], batch=Batch.from_dict(data["batch"]),
                   files=[PlannedFile.from_dict(f) for f in data["files"]])


@dataclass
class Plan:
    batch: Batch
    chunks: list[Chunk]
    findings: list[Finding]
    objects: int = 0

    @property
    def files(self) -> int:
        return sum(len(c.files) for c in self.chunks)

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.chunks)

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    def report(self) -> Report:
        return Report(findings=list(self.findings), inputs=[self.batch.url],
                      extra={"files": self.files, "bytes": self.bytes, "chunks": len(self.chunks)})

    def summary(self) -> str:
        return (f"{self.batch.url}: {self.objects} object(s) listed, {self.files} file(s) "
                f"({self.bytes / 1024**2:,.1f} MiB) planned in {len(self.chunks)} chunk(s), "
                f"{self.errors} error(s), {len(self.findings) - self.errors} warning(s)")

    def to_dict(self) -> dict:
        return {"batch": self.batch.to_dict(), "objects": self.objects, "files": self.files, "bytes": self.bytes,
                "chunks": [c.to_dict() for c in self.chunks], "findings": [f.to_dict() for f in self.findings]}

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        return cls(batch=Batch.from_dict(data["batch"]), chunks=[Chunk.from_dict(c) for c in data["chunks"]],
                   findings=[Finding(**f) for f in data["findings"]], objects=int(data.get("objects", 0)))


def build_plan(batch: Batch, objects: Iterable[S3Object], refs: Iterable[FileRef | tuple | dict], *,
               ingest_folder: str, manifest_keys: Iterable[str] = (),
               folder_for: Callable[[str | None], str | None] = component_folder,
               max_chunk_files: int = DEFAULT_CHUNK_FILES, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Plan:
    """The plan for one batch, from its listing and the manifests' references (no I/O)."""
    if max_chunk_files < 1 or max_chunk_bytes < 1:
        raise ValueError("chunks need room for at least one file and one byte")
    findings: list[Finding] = []
    listed = list(objects)
    present = _index_objects(batch, listed, findings)
    planned: dict[str, PlannedFile] = {}
    targets: dict[tuple[str, str], str] = {}
    referenced: set[str] = set()
    for ref in map(FileRef.of, refs):
        _plan_ref(batch, ref, present, planned, targets, referenced, findings, ingest_folder, folder_for)
    skip = {batch.key(k) if not k.startswith(batch.prefix) else k for k in manifest_keys}
    for relpath, obj in sorted(present.items()):
        if obj.key in referenced or obj.key in skip or entity_name(relpath) in IGNORED_NAMES:
            continue
        findings.append(Finding(file=obj.key, row=None, column=None, rule="transfer.unreferenced_file",
                                message="present under the batch prefix but no manifest row names it as its "
                                        "FILENAME; it will not be transferred", severity="warning"))
    files = sorted(planned.values(), key=lambda f: (f.target, f.key))
    return Plan(batch=batch, chunks=_chunks(batch, files, max_chunk_files, max_chunk_bytes), findings=findings,
                objects=len(listed))


def _index_objects(batch: Batch, objects: list[S3Object], findings: list[Finding]) -> dict[str, S3Object]:
    present: dict[str, S3Object] = {}
    for obj in objects:
        if not obj.key.startswith(batch.prefix) or (obj.key.endswith("/") and obj.size == 0):
            continue  # outside the batch, or a console "folder" marker
        relpath = batch.relative(obj.key)
        problem = unsafe_path(relpath)
        if problem:
            findings.append(Finding(file=obj.key, row=None, column=None, rule="transfer.unsafe_key",
                                    message=f"refused: the key {problem}"))
            continue
        present[relpath] = obj
    return present


def _plan_ref(batch: Batch, ref: FileRef, present: dict[str, S3Object], planned: dict[str, PlannedFile],
              targets: dict[tuple[str, str], str], referenced: set[str], findings: list[Finding],
              ingest_folder: str, folder_for: Callable[[str | None], str | None]) -> None:
    def finding(rule: str, message: str, severity: str = "error") -> None:
        findings.append(Finding(file=ref.manifest, row=ref.row, column="FILENAME", rule=rule, message=message,
                                severity=severity, component=ref.component))

    filename = (ref.filename or "").strip()
    problem = unsafe_path(filename)
    if problem:
        finding("transfer.unsafe_key", f"FILENAME refused: {problem}")
        return
    obj = present.get(filename)
    if obj is None:
        finding("transfer.missing_file", f"FILENAME {filename} is not in {batch.url}")
        return
    referenced.add(obj.key)
    if obj.key in planned:
        first = planned[obj.key].sources[0]
        finding("transfer.duplicate_reference",
                f"FILENAME {filename} is already referenced by {first.manifest} row {first.row}; a file is "
                "submitted once")
        return
    module = folder_for(ref.component)
    if module is None:
        finding("transfer.no_target_folder",
                f"no ingest folder is known for component {ref.component!r}, so {filename} has nowhere to go")
        return
    name = entity_name(filename)
    problem = name_problem(name)
    if problem:
        finding("transfer.invalid_name", f"{name!r}: {problem}")
        return
    if obj.size == 0:
        finding("transfer.empty_file", f"{filename} is empty (0 bytes); HTAN accepts no empty data file")
        return
    md5 = _declared_md5(ref, obj, finding)
    if md5 is False:
        return
    problem = annotations_problem(ref.annotations)
    if problem:
        finding("transfer.bad_annotations", problem)
        return
    target = target_path(ingest_folder, module)
    clash = targets.get((target, name))
    if clash:
        finding("transfer.duplicate_target",
                f"{filename} and {clash} would both be {target}/{name}; names must be unique in a folder")
        return
    targets[(target, name)] = filename
    planned[obj.key] = PlannedFile(key=obj.key, size=obj.size, etag=obj.etag, target=target, name=name, md5=md5,
                                   sources=[Source(ref.component, ref.manifest, ref.row)],
                                   annotations=ref.annotations)


def _declared_md5(ref: FileRef, obj: S3Object, finding: Callable[..., None]) -> str | bool | None:
    """The row's checksum as an MD5; False when it contradicts the object (finding made)."""
    if not ref.md5:
        return None
    md5 = ref.md5.strip().lower()
    if not MD5_HEX.match(md5):
        finding("transfer.checksum_not_md5", "the checksum is not a 32-digit hex MD5; the MD5 is taken from S3 "
                                             "instead", severity="warning")
        return None
    if obj.etag_md5 and obj.etag_md5 != md5:
        finding("transfer.md5_conflict", f"the manifest's checksum {md5} differs from the MD5 of "
                                         f"{obj.key} in S3 ({obj.etag_md5}): one of them is wrong")
        return False
    return md5


def annotations_problem(annotations: Any) -> str | None:
    """The v2 shape Synapse accepts (SYNAPSE.md §4); key rules and limits are the metadata step's."""
    if annotations is None:
        return None
    if not isinstance(annotations, dict):
        return "annotations must map keys to {type, value: [...]}"
    for key, value in annotations.items():
        if not isinstance(value, dict) or value.get("type") not in ANNOTATION_TYPES:
            return f"annotation {key!r} needs a type, one of {sorted(ANNOTATION_TYPES)}"
        values = value.get("value")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            return f"annotation {key!r} needs a non-empty list of strings as its value"
    return None


def _chunks(batch: Batch, files: list[PlannedFile], max_files: int, max_bytes: int) -> list[Chunk]:
    chunks: list[list[PlannedFile]] = []
    current: list[PlannedFile] = []
    size = 0
    for planned in files:
        if current and (len(current) >= max_files or size + planned.size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(planned)
        size += planned.size
    if current:
        chunks.append(current)
    return [Chunk(id=f"chunk-{i:04d}", batch=batch, files=group) for i, group in enumerate(chunks, 1)]


def plan_batch(batch_url: str | Batch, refs: Iterable[FileRef | tuple | dict], *, ingest_folder: str, s3=None,
               objects: Iterable[S3Object] | None = None, manifest_keys: Iterable[str] = (),
               folder_for: Callable[[str | None], str | None] = component_folder,
               max_chunk_files: int = DEFAULT_CHUNK_FILES, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Plan:
    """List the batch (unless ``objects`` are given, e.g. from an inventory task) and plan it."""
    from htan_submission.transfer.inventory import list_batch
    from htan_submission.transfer.keys import parse_batch_url
    from htan_submission.transfer.s3 import s3_client

    batch = batch_url if isinstance(batch_url, Batch) else parse_batch_url(batch_url)
    if objects is None:
        objects = list_batch(s3 or s3_client(), batch)
    return build_plan(batch, objects, refs, ingest_folder=ingest_folder, manifest_keys=manifest_keys,
                      folder_for=folder_for, max_chunk_files=max_chunk_files, max_chunk_bytes=max_chunk_bytes)
