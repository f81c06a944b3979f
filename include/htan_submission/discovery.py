"""Nightly discovery: which batch folders under a center's S3 prefix are ready and not yet submitted.

A center marks a batch ready by putting, at the top of the batch folder
(``s3://<bucket>/<prefix><batch>/``), either an empty object ``READY`` or a ``batch.yaml`` whose
optional keys become the submission run's conf (``parse_batch_file``). Only the direct sub-folders
of the center's prefix are batches; one ListObjectsV2 with a delimiter per folder reads its
top-level objects (manifests and markers), never its data files.

"Never submitted twice" is kept by a durable marker in the batch folder, ``SUBMITTED`` (JSON),
written *before* the submission run is triggered:

1. **claim**: create ``SUBMITTED`` with state ``claimed``, the submission DAG, a deterministic run
   id and the conf, using a conditional create (``If-None-Match: *``), so two discoveries cannot
   both claim a batch;
2. **trigger** the run with exactly that run id; Airflow refuses a second run with the same id, so
   re-triggering a claim is harmless (the trigger task is then skipped);
3. **confirm**: once Airflow has the run, rewrite ``SUBMITTED`` with state ``triggered``
   (conditional on the claimed object's ETag).

A crash between 1 and 3 leaves a ``claimed`` marker; the next discovery asks Airflow whether the run
exists (confirm it) or not (trigger it again with the same run id and conf). A ``triggered`` batch
is never triggered again. To submit a batch folder again on purpose, delete ``SUBMITTED`` and put
``READY`` (or ``batch.yaml``) again: the run id is derived from the ready marker's time, so it is a
new run. Any ``SUBMITTED`` object this module did not write (e.g. an empty one put by hand) holds
the batch back.

Airflow-free: the adapter passes an S3 client and ``run_exists(run_id) -> bool``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import yaml

from htan_submission.transfer.keys import Batch, unsafe_path

READY = "READY"
BATCH_FILE = "batch.yaml"
SUBMITTED = "SUBMITTED"
MARKER_VERSION = 1
MAX_BATCH_FILE_BYTES = 64 * 1024
MAX_NOTE_CHARS = 2000
DEFAULT_MAX_TRIGGERS = 100  # per discovery run; the rest stay unclaimed until the next night
RUN_ID_PREFIX = "nightly__"
BATCH_FILE_KEYS = ("note", "components", "transfer_mode", "release")
TRANSFER_MODES = ("index", "copy")
COMPONENT = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,99}$")
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_CONFLICT_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class BatchFileError(ValueError):
    """``batch.yaml`` is wrong; the message names the key."""


@dataclass(frozen=True)
class Marker:
    """A top-level object of a batch folder, as listed (no bytes read)."""

    key: str
    etag: str
    last_modified: datetime

    def to_dict(self) -> dict:
        return {"key": self.key, "etag": self.etag, "last_modified": self.last_modified.isoformat()}


@dataclass(frozen=True)
class BatchFolder:
    batch: Batch
    ready: Marker | None = None
    batch_file: Marker | None = None
    submitted: Marker | None = None

    @property
    def ready_marker(self) -> Marker | None:
        """What makes the folder ready: the newer of ``READY`` and ``batch.yaml``."""
        markers = [m for m in (self.ready, self.batch_file) if m]
        return max(markers, key=lambda m: (m.last_modified, m.key)) if markers else None


@dataclass(frozen=True)
class BatchOptions:
    """``batch.yaml``: every key optional."""

    note: str | None = None
    components: tuple[str, ...] | None = None
    transfer_mode: str | None = None
    release: int | None = None

    def conf(self, batch_url: str) -> dict:
        """The submission run's conf: the batch, plus only the keys the center set (the submission
        DAG's params give the defaults)."""
        conf: dict = {"batch": batch_url}
        if self.note is not None:
            conf["note"] = self.note
        if self.components is not None:
            conf["components"] = list(self.components)
        if self.transfer_mode is not None:
            conf["transfer_mode"] = self.transfer_mode
        if self.release is not None:
            conf["release"] = self.release
        return conf


@dataclass(frozen=True)
class Submission:
    """The ``SUBMITTED`` record; ``etag`` is the S3 object's (for compare-and-swap), not stored."""

    state: str  # claimed | triggered | held (a SUBMITTED object this module did not write)
    batch: str
    dag_id: str = ""
    run_id: str = ""
    conf: dict = field(default_factory=dict)
    claimed_at: str = ""
    claimed_by: str = ""
    ready: dict = field(default_factory=dict)
    triggered_at: str | None = None
    etag: str = ""

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "etag"}
        return json.dumps({"htan_discovery": MARKER_VERSION, **data}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: bytes | str, *, batch: str, etag: str) -> Submission:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("htan_discovery") != MARKER_VERSION \
                or data.get("state") not in ("claimed", "triggered") or not data.get("run_id"):
            return cls(state="held", batch=batch, etag=etag)
        fields = {k: data[k] for k in ("state", "dag_id", "run_id", "conf", "claimed_at", "claimed_by", "ready",
                                       "triggered_at") if k in data}
        return cls(batch=batch, etag=etag, **fields)

    def trigger_kwargs(self) -> dict:
        """What the mapped ``TriggerDagRunOperator`` is expanded with."""
        return {"trigger_run_id": self.run_id, "conf": self.conf}


@dataclass(frozen=True)
class Problem:
    batch: str
    message: str

    def __str__(self) -> str:
        return f"{self.batch}: {self.message}"


@dataclass
class Discovery:
    """One discovery pass over a center's prefix."""

    triggers: list[Submission] = field(default_factory=list)  # claimed; trigger these now
    confirmed: list[str] = field(default_factory=list)  # an earlier claim whose run exists: now triggered
    submitted: list[str] = field(default_factory=list)  # already triggered earlier: left alone
    held: list[str] = field(default_factory=list)  # a SUBMITTED object we did not write
    deferred: list[str] = field(default_factory=list)  # over the per-run limit: next run
    problems: list[Problem] = field(default_factory=list)
    batches: int = 0

    def summary(self) -> str:
        return (f"{self.batches} batch folder(s): {len(self.triggers)} to trigger, {len(self.confirmed)} confirmed, "
                f"{len(self.submitted)} already submitted, {len(self.held)} held, {len(self.deferred)} deferred, "
                f"{len(self.problems)} problem(s)")

    def to_dict(self) -> dict:
        """Small and JSON-safe (it is the discover task's XCom)."""
        return {"to_trigger": {s.batch: s.run_id for s in self.triggers}, "confirmed": self.confirmed,
                "submitted": len(self.submitted), "held": self.held,
                "deferred": self.deferred, "problems": [str(p) for p in self.problems]}


@dataclass
class Confirmation:
    confirmed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # claimed, but Airflow has no run: next discovery retries
    problems: list[str] = field(default_factory=list)


def batch_folders(client, bucket: str, prefix: str) -> list[BatchFolder]:
    """Every direct sub-folder of ``prefix`` with its markers: one delimited listing of the prefix,
    then one of each folder's top level (manifests and markers, never the data sub-folders)."""
    prefix = _folder_prefix(prefix)
    folders = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes") or []:
            folders.append(_read_folder(client, bucket, common["Prefix"]))
    return folders


def _read_folder(client, bucket: str, folder: str) -> BatchFolder:
    markers: dict[str, Marker] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=folder, Delimiter="/"):
        for item in page.get("Contents") or []:
            name = item["Key"][len(folder):]
            if name in (READY, BATCH_FILE, SUBMITTED):
                markers[name] = Marker(key=item["Key"], etag=str(item.get("ETag") or "").strip('"'),
                                       last_modified=_utc(item["LastModified"]))
    return BatchFolder(batch=Batch(bucket=bucket, prefix=folder), ready=markers.get(READY),
                       batch_file=markers.get(BATCH_FILE), submitted=markers.get(SUBMITTED))


def parse_batch_file(text: str | bytes, where: str = BATCH_FILE) -> BatchOptions:
    """``batch.yaml`` -> options; raises ``BatchFileError`` naming the wrong key.

    An unknown key is an error, not ignored: a typo (``component:``) would otherwise submit the
    whole batch silently."""
    if len(text) > MAX_BATCH_FILE_BYTES:
        raise BatchFileError(f"{where}: larger than {MAX_BATCH_FILE_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BatchFileError(f"{where}: not YAML ({exc.__class__.__name__})") from None
    if data is None:
        return BatchOptions()
    if not isinstance(data, dict):
        raise BatchFileError(f"{where}: a mapping of {', '.join(BATCH_FILE_KEYS)}")
    unknown = sorted(str(k) for k in data if k not in BATCH_FILE_KEYS)
    if unknown:
        raise BatchFileError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(BATCH_FILE_KEYS)}")
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
        raise BatchFileError(f"{where}.note: text of at most {MAX_NOTE_CHARS} characters")
    components = data.get("components")
    if components is not None:
        if not isinstance(components, list) or not all(isinstance(c, str) and COMPONENT.match(c)
                                                       for c in components):
            raise BatchFileError(f"{where}.components: a list of component names such as scRNALevel1")
        components = tuple(dict.fromkeys(components))
    mode = data.get("transfer_mode")
    if mode is not None and mode not in TRANSFER_MODES:
        raise BatchFileError(f"{where}.transfer_mode: one of {', '.join(TRANSFER_MODES)}")
    release = data.get("release")
    if release is not None and (isinstance(release, bool) or not isinstance(release, int) or release < 1):
        raise BatchFileError(f"{where}.release: a whole number of 1 or more, such as 2")
    return BatchOptions(note=note, components=components, transfer_mode=mode, release=release)


def run_id_for(batch: Batch, ready: Marker) -> str:
    """Deterministic: the same batch folder and ready marker give the same run id, so Airflow itself
    refuses to create the run twice; a new ready marker (re-submission) gives a new one."""
    name = _RUN_ID_UNSAFE.sub("_", batch.prefix.rstrip("/").rsplit("/", 1)[-1]).strip("_.")[:80] or "batch"
    stamp = ready.last_modified.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(f"{batch.url}\n{ready.key}\n{ready.last_modified.isoformat()}".encode()).hexdigest()
    return f"{RUN_ID_PREFIX}{name}__{stamp}__{digest[:10]}"


def read_submission(client, batch: Batch) -> Submission | None:
    try:
        response = client.get_object(Bucket=batch.bucket, Key=batch.key(SUBMITTED))
    except Exception as exc:
        if _code(exc) in _MISSING_CODES:
            return None
        raise
    return Submission.from_json(response["Body"].read(), batch=batch.url,
                                etag=str(response.get("ETag") or "").strip('"'))


def claim(client, folder: BatchFolder, *, dag_id: str, options: BatchOptions, claimed_by: str,
          now: datetime) -> Submission | None:
    """Create ``SUBMITTED`` (state claimed); None when another writer created it first."""
    ready = folder.ready_marker
    if ready is None:
        raise ValueError(f"{folder.batch.url} has no ready marker")
    record = Submission(state="claimed", batch=folder.batch.url, dag_id=dag_id, run_id=run_id_for(folder.batch, ready),
                        conf=options.conf(folder.batch.url), claimed_at=now.isoformat(), claimed_by=claimed_by,
                        ready=ready.to_dict())
    try:
        response = client.put_object(Bucket=folder.batch.bucket, Key=folder.batch.key(SUBMITTED),
                                     Body=record.to_json().encode(), ContentType="application/json", IfNoneMatch="*")
    except Exception as exc:
        if _code(exc) in _CONFLICT_CODES:
            return None
        raise
    return replace(record, etag=str(response.get("ETag") or "").strip('"'))


def mark_triggered(client, batch: Batch, *, run_id: str, now: datetime) -> Submission | None:
    """Rewrite a ``claimed`` record as ``triggered`` (compare-and-swap on its ETag). Returns the
    record now stored, or None if ``SUBMITTED`` is gone or is not the claim of ``run_id``."""
    for _ in range(3):
        record = read_submission(client, batch)
        if record is None or record.state == "held" or record.run_id != run_id:
            return None
        if record.state == "triggered":
            return record
        done = replace(record, state="triggered", triggered_at=now.isoformat())
        try:
            response = client.put_object(Bucket=batch.bucket, Key=batch.key(SUBMITTED), Body=done.to_json().encode(),
                                         ContentType="application/json", IfMatch=record.etag)
        except Exception as exc:
            if _code(exc) in _CONFLICT_CODES:
                continue  # rewritten meanwhile: read it again
            raise
        return replace(done, etag=str(response.get("ETag") or "").strip('"'))
    return None


def discover(client, *, bucket: str, prefix: str, dag_id: str, claimed_by: str, run_exists: Callable[[str], bool],
             now: datetime | None = None, max_triggers: int = DEFAULT_MAX_TRIGGERS) -> Discovery:
    """Claim every ready, unsubmitted batch folder (oldest ready marker first, at most
    ``max_triggers``) and return what to trigger; confirm earlier claims whose run exists."""
    now = now or datetime.now(UTC)
    result = Discovery()
    folders = [f for f in batch_folders(client, bucket, prefix) if f.ready_marker]
    result.batches = len(folders)
    for folder in sorted(folders, key=lambda f: (f.ready_marker.last_modified, f.batch.prefix)):
        url = folder.batch.url
        problem = unsafe_path(folder.batch.prefix.rstrip("/"))
        if problem:
            result.problems.append(Problem(url, f"not a usable batch folder: {problem}"))
            continue
        record = read_submission(client, folder.batch) if folder.submitted else None
        if record is None:
            if len(result.triggers) >= max_triggers:
                result.deferred.append(url)
                continue
            try:
                options = _options(client, folder)
            except BatchFileError as exc:
                result.problems.append(Problem(url, str(exc)))
                continue
            record = claim(client, folder, dag_id=dag_id, options=options, claimed_by=claimed_by, now=now)
            if record is not None:
                result.triggers.append(record)
                continue
            record = read_submission(client, folder.batch)  # another writer claimed it just now
            if record is None:
                result.problems.append(Problem(url, "SUBMITTED appeared and vanished while claiming; next run"))
                continue
        _known(client, record, folder.batch, dag_id, run_exists, now, max_triggers, result)
    return result


def _known(client, record: Submission, batch: Batch, dag_id: str, run_exists: Callable[[str], bool], now: datetime,
           max_triggers: int, result: Discovery) -> None:
    """A folder that already has a SUBMITTED record."""
    if record.state == "held":
        result.held.append(batch.url)
    elif record.state == "triggered":
        result.submitted.append(batch.url)
    elif record.dag_id != dag_id:
        result.problems.append(Problem(batch.url, f"claimed for {record.dag_id!r}, not {dag_id!r}; left alone"))
    elif run_exists(record.run_id):
        if mark_triggered(client, batch, run_id=record.run_id, now=now):
            result.confirmed.append(batch.url)
        else:
            result.problems.append(Problem(batch.url, "SUBMITTED changed while confirming; next run"))
    elif len(result.triggers) >= max_triggers:
        result.deferred.append(batch.url)
    else:
        result.triggers.append(record)  # claimed earlier, never triggered (a crash): same run id, same conf


def confirm(client, batches: Iterable[str], run_ids: Iterable[str], *, run_exists: Callable[[str], bool],
            now: datetime | None = None) -> Confirmation:
    """After triggering: mark each batch whose run Airflow has as ``triggered``; the others stay
    ``claimed`` (pending), and the next discovery triggers them again with the same run id."""
    from htan_submission.transfer.keys import parse_batch_url

    now = now or datetime.now(UTC)
    result = Confirmation()
    for url, run_id in zip(batches, run_ids, strict=True):
        if not run_exists(run_id):
            result.pending.append(url)
        elif mark_triggered(client, parse_batch_url(url), run_id=run_id, now=now):
            result.confirmed.append(url)
        else:
            result.problems.append(f"{url}: SUBMITTED is no longer the claim of {run_id}; left alone")
    return result


def _options(client, folder: BatchFolder) -> BatchOptions:
    if folder.batch_file is None:
        return BatchOptions()
    response = client.get_object(Bucket=folder.batch.bucket, Key=folder.batch_file.key,
                                 Range=f"bytes=0-{MAX_BATCH_FILE_BYTES}")  # one byte over: enough to refuse
    return parse_batch_file(response["Body"].read(), where=f"{folder.batch.url}{BATCH_FILE}")


def _folder_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def _utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _code(exc: Exception) -> str:
    """The S3 error code of a botocore ``ClientError`` (duck-typed: the core does not import boto3)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
