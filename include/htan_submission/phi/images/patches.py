"""Edit plans: byte overwrites at fixed offsets, checked before any of them is applied.

A scrub never changes a file's length or moves a byte: it is a list of ``Patch`` es (offset +
replacement bytes of the same length as what they replace). That makes the same plan usable on a
local file (``pwrite``) and on S3 (multipart upload whose untouched ranges are server-side
copies), and makes "the image data is untouched" a property we can check: patches may only land
on ranges the planner declared editable, never on a protected range.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from htan_submission.phi.images.source import UnreadableImage


@dataclass(frozen=True)
class Patch:
    """Overwrite ``len(data)`` bytes at ``offset``. ``order`` sorts writes: data and values (0)
    before IFD blocks (1), so the file is a valid image after each single write."""

    offset: int
    data: bytes
    order: int = 0

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class Item:
    """One thing found (and, when scrubbing, removed). Never holds the value itself; ``sample``
    is at most ``mask_value`` of it."""

    location: str
    rule: str
    what: str
    action: str
    sample: str | None = None
    severity: str = "error"  # "warning": worth a look but not PHI for sure (e.g. label not found)


@dataclass
class Plan:
    """What a format module found in one file, and the patches that remove it."""

    format: str
    items: list[Item] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    protected: list[tuple[int, int]] = field(default_factory=list)

    def add(self, item: Item, *patches: Patch) -> None:
        self.items.append(item)
        self.patches.extend(patches)


def merge_patches(patches: Iterable[Patch], size: int, protected: Iterable[tuple[int, int]] = ()) -> list[Patch]:
    """Validate and order patches. Identical duplicates collapse; overlapping patches with
    different bytes, patches past the end, and patches touching a protected range refuse the
    whole plan (``UnreadableImage``), so the file is left as it was."""
    unique = sorted(set(patches), key=lambda p: (p.offset, p.end, p.order))
    for patch in unique:
        if patch.offset < 0 or patch.end > size:
            raise UnreadableImage("an edit would fall outside the file; structures overlap")
    for before, after in itertools.pairwise(unique):
        if after.offset < before.end and before != after:
            raise UnreadableImage("two header structures share bytes; cannot edit them in place safely")
    ranges = sorted((a, b) for a, b in protected if b > a)
    if ranges and unique:
        _check_protected(unique, ranges)
    return sorted(unique, key=lambda p: (p.order, p.offset))


def _check_protected(patches: list[Patch], ranges: list[tuple[int, int]]) -> None:
    """Both lists sorted by start; a sweep finds any overlap in O(n + m)."""
    j = 0
    for patch in patches:
        while j < len(ranges) and ranges[j][1] <= patch.offset:
            j += 1
        k = j
        while k < len(ranges) and ranges[k][0] < patch.end:
            if ranges[k][1] > patch.offset:
                raise UnreadableImage("an edit would overwrite image data or a kept tag value; "
                                      "the file's structures overlap")
            k += 1


def apply_to_file(path: str | os.PathLike, patches: list[Patch]) -> int:
    """Write patches in their order with one ``pwrite`` each, then fsync. Returns bytes written.

    Each patch is one small write of a self-consistent structure (a whole IFD block, a whole
    tag value), so a process killed between writes leaves a readable file.
    """
    written = 0
    fd = os.open(path, os.O_RDWR)
    try:
        for patch in patches:
            view = memoryview(patch.data)
            offset = patch.offset
            while view:
                n = os.pwrite(fd, view, offset)
                view, offset, written = view[n:], offset + n, written + n
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def apply_to_bytes(data: bytes, patches: list[Patch]) -> bytes:
    buffer = bytearray(data)
    for patch in patches:
        buffer[patch.offset: patch.end] = patch.data
    return bytes(buffer)
