"""Scan or scrub image files: pick images by magic bytes, plan, apply, verify, report.

The functions the CLI and the Airflow operator call are ``scan_images`` and ``scrub_images``;
both return a ``findings.Report`` whose ``errors`` are what a person must act on (PHI found by a
scan; a file that could not be cleaned by a scrub). What a scrub removed is listed as warnings,
by tag or field name, never by value.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from htan_submission.findings import Finding, Report
from htan_submission.phi.images.dicom import confirm_with_pydicom, plan_dicom, sniff_dicom
from htan_submission.phi.images.patches import Item, Plan, apply_to_file
from htan_submission.phi.images.source import ByteSource, FileSource, UnreadableImage
from htan_submission.phi.images.tiff_header import sniff_tiff
from htan_submission.phi.images.tiff_scrub import plan_tiff

log = logging.getLogger(__name__)

# Names that promise an image: such a file is reported when its bytes are not TIFF or DICOM.
IMAGE_SUFFIXES = {".svs", ".tif", ".tiff", ".ndpi", ".scn", ".bif", ".qptiff", ".btf", ".tf8", ".tf2", ".dcm",
                  ".dicom", ".ome", ".vsi"}
SCAN_FIX = "Run `htan-submit scrub-images` to remove it in place (headers only; image data untouched)."
UNREADABLE_FIX = ("The file was left untouched. Re-export it from the scanner software (or convert it, e.g. with "
                  "bfconvert) and run again; do not submit it as it is.")
TMP_MARK = ".htan-scrub-"


def detect_format(source: ByteSource) -> str | None:
    """``tiff``, ``bigtiff`` or ``dicom`` from the bytes (never the name), else None."""
    head = source.read(0, 132)
    kind = sniff_tiff(head)
    if kind:
        return kind
    dicom = sniff_dicom(head)
    if dicom == "dicom" or (dicom == "dicom-nopreamble" and confirm_with_pydicom(source)):
        return "dicom"
    return None


def plan_source(source: ByteSource, uid_key: bytes | None = None) -> Plan:
    """The plan for any supported image; ``UnreadableImage`` for anything else."""
    kind = detect_format(source)
    if kind in ("tiff", "bigtiff"):
        return plan_tiff(source)
    if kind == "dicom":
        return plan_dicom(source, uid_key)
    if source.size == 0:
        raise UnreadableImage("the file is empty (0 bytes)")
    raise UnreadableImage("not a TIFF or DICOM file by its first bytes, whatever its name says")


# -- findings -----------------------------------------------------------------------------
def item_finding(file: str, item: Item, scrubbed: bool) -> Finding:
    sample = f" ({item.sample})" if item.sample else ""
    if item.severity == "warning" and item.rule.startswith("phi.") and not scrubbed:
        return Finding(file, None, item.location, item.rule, f"{item.what}{sample}: {item.action}.", "warning")
    if scrubbed:
        return Finding(file, None, item.location, item.rule, f"Found {item.what}{sample}; {item.action}.",
                       "warning")
    return Finding(file, None, item.location, item.rule, f"Found {item.what}{sample}. {SCAN_FIX}", item.severity)


def unreadable_finding(file: str, reason: str) -> Finding:
    return Finding(file, None, None, "image.unreadable", f"{reason}. {UNREADABLE_FIX}")


def error_finding(file: str, exc: BaseException) -> Finding:
    """An unexpected failure: the class name only (a message could quote header bytes)."""
    log.error("image scrub failed on a file: %s", type(exc).__name__)
    return Finding(file, None, None, "image.error",
                   f"Unexpected {type(exc).__name__} while reading the header. {UNREADABLE_FIX} Report the file "
                   "to the pipeline maintainers.")


# -- file selection -------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    path: Path
    root: Path | None  # the directory it was found under (None: named directly)


def iter_candidates(paths: Iterable[str | Path], exclude: Path | None = None) -> Iterator[Candidate]:
    """Every file named, and every file under every directory named (sorted, no symlinks
    followed, our own temp files and anything under ``exclude`` skipped)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                here = Path(dirpath)
                if exclude is not None and _inside(here, exclude):
                    dirnames[:] = []
                    continue
                for name in sorted(filenames):
                    file = here / name
                    if TMP_MARK not in name and not file.is_symlink():
                        yield Candidate(file, path)
        else:
            yield Candidate(path, None)


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _open_plan(candidate: Candidate, uid_key: bytes | None) -> tuple[Plan | None, Finding | None]:
    """(plan, None) for an image; (None, finding) for a bad one; (None, None) to skip quietly.

    A file is an image by its bytes; one whose name promises an image (``.svs``, ``.dcm``, ...)
    but whose bytes are not TIFF or DICOM is reported. Anything else (manifests, FASTQ) is
    skipped, whether named directly or found in a directory, so a batch's whole file list can
    be passed in."""
    file = str(candidate.path)
    named_image = candidate.path.suffix.lower() in IMAGE_SUFFIXES
    try:
        with FileSource(candidate.path) as source:
            if not named_image and detect_format(source) is None:
                return None, None
            return plan_source(source, uid_key), None
    except UnreadableImage as exc:
        return None, unreadable_finding(file, str(exc))
    except OSError as exc:
        return None, unreadable_finding(file, f"cannot read the file ({exc.strerror or type(exc).__name__})")
    except Exception as exc:  # a bug must not stop the batch, nor print header bytes
        return None, error_finding(file, exc)


# -- the two entry points -------------------------------------------------------------------
def scan_images(paths: Iterable[str | Path], uid_key: bytes | None = None) -> Report:
    """Report PHI in every image header under ``paths``; change nothing."""
    report = Report(extra={"mode": "scan", "images": 0, "with_phi": 0, "unreadable": 0, "skipped": 0})
    for candidate in iter_candidates(paths):
        plan, problem = _open_plan(candidate, uid_key)
        if problem:
            report.inputs.append(str(candidate.path))
            report.findings.append(problem)
            report.extra["unreadable"] += 1
            continue
        if plan is None:
            report.extra["skipped"] += 1
            continue
        report.inputs.append(str(candidate.path))
        report.extra["images"] += 1
        report.extra["with_phi"] += any(i.severity == "error" for i in plan.items)
        report.extend(item_finding(str(candidate.path), item, scrubbed=False) for item in plan.items)
    return report


def scrub_images(paths: Iterable[str | Path], in_place: bool, out_dir: Path | str | None = None,
                 uid_key: bytes | None = None) -> Report:
    """Remove PHI from every image header under ``paths``: in place, or into copies under
    ``out_dir`` (mirroring directories). A file that cannot be parsed is left untouched (and not
    copied) and reported as an error, as is any PHI still found after the edit."""
    if in_place == (out_dir is not None):
        raise ValueError("choose exactly one of in_place=True or out_dir")
    out = Path(out_dir) if out_dir is not None else None
    mode = "in-place" if in_place else "out"
    report = Report(extra={"mode": mode, "images": 0, "cleaned": 0, "already_clean": 0, "unreadable": 0,
                           "skipped": 0, "bytes_written": 0})
    for candidate in iter_candidates(paths, exclude=out):
        plan, problem = _open_plan(candidate, uid_key)
        file = str(candidate.path)
        if problem:
            report.inputs.append(file)
            report.findings.append(problem)
            report.extra["unreadable"] += 1
            continue
        if plan is None:
            report.extra["skipped"] += 1
            continue
        report.inputs.append(file)
        report.extra["images"] += 1
        try:
            target = candidate.path if out is None else _write_copy(candidate, out, plan)
            if out is None and plan.patches:
                report.extra["bytes_written"] += apply_to_file(target, plan.patches)
            elif out is not None:
                report.extra["bytes_written"] += sum(len(p.data) for p in plan.patches)
        except OSError as exc:
            report.findings.append(Finding(file, None, None, "image.write_failed",
                                           f"Could not write the cleaned file ({exc.strerror or type(exc).__name__});"
                                           " nothing was left half-written. Check disk space and permissions."))
            continue
        report.extend(item_finding(file, item, scrubbed=True) for item in plan.items)
        residual = verify(target, uid_key)
        report.extend(residual)
        if not residual:
            report.extra["cleaned" if any(i.severity == "error" for i in plan.items) else "already_clean"] += 1
    return report


def _destination(candidate: Candidate, out: Path) -> Path:
    if candidate.root is None:
        return out / candidate.path.name
    return out / candidate.path.relative_to(candidate.root)


def _write_copy(candidate: Candidate, out: Path, plan: Plan) -> Path:
    """Copy to a temp file next to the destination, patch the copy, fsync, rename into place:
    the destination either does not exist or is complete and clean."""
    dest = _destination(candidate, out)
    if dest.exists() and dest.resolve() == candidate.path.resolve():
        raise OSError(0, "the output would overwrite the input")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}{TMP_MARK}{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copyfile(candidate.path, tmp)
        if plan.patches:
            apply_to_file(tmp, plan.patches)
        else:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def verify(path: Path, uid_key: bytes | None = None) -> list[Finding]:
    """Re-read the cleaned header: anything still found is an error (the edit did not take)."""
    file = str(path)
    try:
        with FileSource(path) as source:
            plan = plan_source(source, uid_key)
    except UnreadableImage as exc:
        return [Finding(file, None, None, "image.scrub_failed",
                        f"After scrubbing, the header no longer parses ({exc}). Restore the file from its source.")]
    return [Finding(file, None, item.location, "image.residual",
                    f"{item.what} is still present after scrubbing. Do not submit the file; report it.")
            for item in plan.items if item.severity == "error"]
