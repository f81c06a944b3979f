"""Batch locations, and which S3 keys and manifest FILENAMEs are safe to act on.

A FILENAME in a manifest is relative to the batch prefix. One that is absolute, names another
bucket, or climbs out with ``..`` could make the transfer publish an object the batch does not
own (another batch's, another center's): it is refused, never normalised into something that
happens to exist. The same goes for S3 keys under the prefix that contain such segments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SYNAPSE_NAME = re.compile(r"^[A-Za-z0-9 _\-.+()',]{1,256}$")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Batch:
    """``s3://bucket/prefix/``: where one batch's manifests and data files are."""

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, relpath: str) -> str:
        return self.prefix + relpath

    def relative(self, key: str) -> str:
        return key[len(self.prefix):] if key.startswith(self.prefix) else key

    def to_dict(self) -> dict:
        return {"bucket": self.bucket, "prefix": self.prefix}

    @classmethod
    def from_dict(cls, data: dict) -> Batch:
        return cls(bucket=data["bucket"], prefix=data["prefix"])


def parse_batch_url(url: str) -> Batch:
    """``s3://bucket/some/prefix`` -> Batch with the prefix ending in ``/`` (empty for the root)."""
    if not url.startswith("s3://"):
        raise ValueError(f"a batch is an s3:// URL, not {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    prefix = prefix.strip("/")
    problem = unsafe_path(prefix) if prefix else None
    if problem:
        raise ValueError(f"unsafe batch prefix {prefix!r}: {problem}")
    return Batch(bucket=bucket, prefix=f"{prefix}/" if prefix else "")


def unsafe_path(path: str) -> str | None:
    """Why a relative path must not be used (None when it is safe)."""
    if not path:
        return "it is empty"
    if _CONTROL.search(path):
        return "it contains control characters"
    if "://" in path:
        return "it is a URL; FILENAME must be relative to the batch prefix"
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return "it is absolute; FILENAME must be relative to the batch prefix"
    segments = re.split(r"[/\\]", path)
    if ".." in segments:
        return "it contains '..', which would leave the batch prefix"
    if path.endswith(("/", "\\")):
        return "it names a folder, not a file"
    return None


def entity_name(relpath: str) -> str:
    """The File entity's name: the last path segment."""
    return relpath.rsplit("/", 1)[-1]


def name_problem(name: str) -> str | None:
    """Synapse refuses entity names outside its character set or longer than 256 characters."""
    if SYNAPSE_NAME.match(name):
        return None
    return ("Synapse entity names are 1 to 256 letters, digits, spaces and _ - . + ( ) ' , "
            "(rename the file)")
