"""TIFF header walker and in-place IFD rewriter: classic TIFF, BigTIFF and Hamamatsu NDPI.

Why not tifffile for this: tifffile reads headers well, but (a) it treats a damaged chain as
"stop here, log an error" where we must refuse the file, (b) it cannot remove a tag, only
``TiffTag.overwrite`` one (which appends to the file when the value grows and refuses NDPI files
over 4 GB), and (c) it reads from a file handle, where we want every byte to come through
``ByteSource`` so the same walk runs over S3 ranged GETs. What we need is small: the exact file
position of every IFD, every entry and every value, in every IFD of the file (main chain,
SubIFDs, EXIF/GPS/Interop IFDs), with hard bounds checks. tifffile stays the reference reader in
the tests.

NDPI (as tifffile documents and reads it): a classic little-endian TIFF whose header holds an
8-byte first-IFD offset, whose IFDs end with an 8-byte next-IFD offset followed by one 4-byte
"high bits" word per entry, extending each entry's value/offset field to 64 bits.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from htan_submission.phi.images.rules import tag_label
from htan_submission.phi.images.source import ByteSource, UnreadableImage, read_exact

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
INT_CODES = {1: "B", 3: "H", 4: "I", 6: "b", 7: "B", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}
FLOAT_CODES = {11: "f", 12: "d"}
MAX_ENTRIES = 4096  # tifffile's threshold for a "suspicious number of tags"
MAX_IFDS = 1_000_000
NDPI_FLAG_TAG = 65420
SUBIFDS, EXIF_IFD, GPS_IFD, INTEROP_IFD = 330, 34665, 34853, 40965


@dataclass(frozen=True)
class TiffFormat:
    byteorder: str  # "<" or ">"
    bigtiff: bool = False
    ndpi: bool = False

    @property
    def count_size(self) -> int:
        return 8 if self.bigtiff else 2

    @property
    def entry_size(self) -> int:
        return 20 if self.bigtiff else 12

    @property
    def next_size(self) -> int:
        return 8 if self.bigtiff or self.ndpi else 4

    @property
    def field_size(self) -> int:
        return 8 if self.bigtiff else 4

    @property
    def name(self) -> str:
        return "NDPI" if self.ndpi else "BigTIFF" if self.bigtiff else "TIFF"


@dataclass(frozen=True)
class Entry:
    """One IFD entry and where its bytes are. ``value_offset`` is None for an unknown type."""

    tag: int
    dtype: int
    count: int
    entry_offset: int
    raw: bytes  # the entry as stored (12 or 20 bytes)
    high: bytes  # NDPI: the 4 high-bit bytes of the value field; else b""
    value_offset: int | None
    value_size: int | None
    inline: bool

    @property
    def value_range(self) -> tuple[int, int] | None:
        """The out-of-line value bytes, if any."""
        if self.inline or self.value_offset is None or self.value_size is None:
            return None
        return self.value_offset, self.value_offset + self.value_size


@dataclass
class Ifd:
    offset: int
    name: str  # "IFD 3", "IFD 0 SubIFD 1", "IFD 0 EXIF"
    kind: str  # "image", "exif", "gps", "interop"
    entries: list[Entry]
    next_raw: bytes
    block_size: int
    main_index: int | None = None
    children: list[int] = field(default_factory=list)  # offsets of SubIFDs (image kind)

    def get(self, tag: int) -> Entry | None:
        for entry in self.entries:
            if entry.tag == tag:
                return entry
        return None

    @property
    def end(self) -> int:
        return self.offset + self.block_size


@dataclass
class TiffLayout:
    fmt: TiffFormat
    size: int
    ifds: list[Ifd]

    def by_offset(self) -> dict[int, Ifd]:
        return {ifd.offset: ifd for ifd in self.ifds}


def sniff_tiff(head: bytes) -> str | None:
    """``tiff``/``bigtiff`` from the first 4 bytes, else None (magic bytes, not the name)."""
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return "bigtiff"
    return None


def read_layout(source: ByteSource) -> TiffLayout:
    """Walk every IFD of the file, or raise ``UnreadableImage`` saying what is wrong."""
    if source.size == 0:
        raise UnreadableImage("the file is empty (0 bytes)")
    head = read_exact(source, 0, min(16, source.size), "TIFF header")
    kind = sniff_tiff(head)
    if kind is None:
        raise UnreadableImage("not a TIFF file (magic bytes)")
    byteorder = "<" if head[:2] == b"II" else ">"
    if kind == "bigtiff":
        if len(head) < 16:
            raise UnreadableImage("BigTIFF header is truncated")
        offset_size, zero = struct.unpack(byteorder + "HH", head[4:8])
        if offset_size != 8 or zero != 0:
            raise UnreadableImage("BigTIFF header has an invalid offset size")
        fmt = TiffFormat(byteorder, bigtiff=True)
        first = struct.unpack(byteorder + "Q", head[8:16])[0]
    else:
        if len(head) < 8:
            raise UnreadableImage("TIFF header is truncated")
        fmt = TiffFormat(byteorder)
        first = struct.unpack(byteorder + "I", head[4:8])[0]
        if byteorder == "<" and _is_ndpi(source, fmt, first, head):
            fmt = TiffFormat(byteorder, ndpi=True)
            first = struct.unpack("<Q", head[4:12])[0]
    if first == 0:
        raise UnreadableImage("the TIFF header points to no image (first IFD offset is 0)")
    walker = _Walker(source, fmt)
    walker.chain(first, lambda i: f"IFD {i}", "image", main=True)
    return TiffLayout(fmt=fmt, size=source.size, ifds=walker.ifds)


def _is_ndpi(source: ByteSource, fmt: TiffFormat, first: int, head: bytes) -> bool:
    """NDPI is told apart by its FileFormat tag (65420) in the first IFD; a file over 4 GB may
    also need the 64-bit header offset to find that IFD at all."""
    candidates = [first]
    if len(head) >= 12:
        wide = struct.unpack("<Q", head[4:12])[0]
        if wide != first and wide < source.size:
            candidates.append(wide)
    for offset in candidates:
        try:
            ifd = _parse_ifd(source, fmt, offset, "IFD 0", "image")
        except UnreadableImage:
            continue
        if ifd.get(NDPI_FLAG_TAG) is not None:
            return len(head) >= 12
    return False


def _parse_ifd(source: ByteSource, fmt: TiffFormat, offset: int, name: str, kind: str) -> Ifd:
    bo = fmt.byteorder
    raw_count = read_exact(source, offset, fmt.count_size, f"{name}")
    count = struct.unpack(bo + ("Q" if fmt.bigtiff else "H"), raw_count)[0]
    if count > MAX_ENTRIES:
        raise UnreadableImage(f"{name} declares {count} tags (more than {MAX_ENTRIES}); the file is damaged")
    body_size = count * fmt.entry_size + fmt.next_size + (4 * count if fmt.ndpi else 0)
    body = read_exact(source, offset + fmt.count_size, body_size, f"{name}")
    entries = []
    entries_end = count * fmt.entry_size
    next_raw = body[entries_end: entries_end + fmt.next_size]
    highs = body[entries_end + fmt.next_size:]
    for i in range(count):
        raw = body[i * fmt.entry_size: (i + 1) * fmt.entry_size]
        entry_offset = offset + fmt.count_size + i * fmt.entry_size
        high = highs[4 * i: 4 * i + 4] if fmt.ndpi else b""
        entries.append(_entry(fmt, raw, high, entry_offset, source.size))
    return Ifd(offset=offset, name=name, kind=kind, entries=entries, next_raw=next_raw,
               block_size=fmt.count_size + body_size)


def _entry(fmt: TiffFormat, raw: bytes, high: bytes, entry_offset: int, file_size: int) -> Entry:
    bo = fmt.byteorder
    if fmt.bigtiff:
        tag, dtype, count = struct.unpack(bo + "HHQ", raw[:12])
        value_field, field_pos = raw[12:20], 12
    else:
        tag, dtype, count = struct.unpack(bo + "HHI", raw[:8])
        value_field, field_pos = raw[8:12], 8
    size = TYPE_SIZES.get(dtype)
    if size is None:
        return Entry(tag, dtype, count, entry_offset, raw, high, None, None, True)
    value_size = count * size
    if value_size <= fmt.field_size:
        return Entry(tag, dtype, count, entry_offset, raw, high, entry_offset + field_pos, value_size, True)
    pointer = struct.unpack(bo + ("Q" if fmt.bigtiff else "I"), value_field)[0]
    if fmt.ndpi:
        pointer |= struct.unpack("<I", high)[0] << 32
    return Entry(tag, dtype, count, entry_offset, raw, high, pointer, value_size, False)


class _Walker:
    """Depth-first over the main chain and every sub-IFD. An IFD reached through two pointers
    (tifffile both lists its SubIFDs and chains them) is read once; a chain that comes back to
    one of its own IFDs is a loop and refuses the file (a reader would never finish it)."""

    def __init__(self, source: ByteSource, fmt: TiffFormat):
        self.source, self.fmt = source, fmt
        self.ifds: list[Ifd] = []
        self.seen: dict[int, Ifd] = {}

    def chain(self, offset: int, namer: Callable[[int], str], kind: str, main: bool = False,
              follow: bool = True, before: tuple[int, ...] = ()) -> list[int]:
        offsets: list[int] = []
        index = 0
        while offset:
            name = namer(index)
            if offset in offsets or offset in before:
                raise UnreadableImage(f"{name}: the IFD chain loops back to an earlier IFD")
            if offset in self.seen:
                break  # shared with a chain already read
            if offset >= self.source.size:
                raise UnreadableImage(f"{name} points past the end of the file")
            if len(self.ifds) >= MAX_IFDS:
                raise UnreadableImage(f"more than {MAX_IFDS} IFDs; the file is damaged")
            ifd = _parse_ifd(self.source, self.fmt, offset, name, kind)
            ifd.main_index = index if main else None
            self.seen[offset] = ifd
            self.ifds.append(ifd)
            offsets.append(offset)
            self._children(ifd)
            if not follow:
                break
            offset = self._next(ifd)
            index += 1
        return offsets

    def _next(self, ifd: Ifd) -> int:
        return struct.unpack(self.fmt.byteorder + {4: "I", 8: "Q"}[len(ifd.next_raw)], ifd.next_raw)[0]

    def _children(self, ifd: Ifd) -> None:
        for entry in ifd.entries:
            if entry.tag == SUBIFDS and ifd.kind == "image":
                self._subifds(ifd, entry)
            elif entry.tag == EXIF_IFD and ifd.kind == "image":
                self._single(ifd, entry, "EXIF", "exif")
            elif entry.tag == GPS_IFD and ifd.kind in ("image", "exif"):
                self._single(ifd, entry, "GPS", "gps")
            elif entry.tag == INTEROP_IFD and ifd.kind == "exif":
                self._single(ifd, entry, "Interop", "interop")

    def _subifds(self, ifd: Ifd, entry: Entry) -> None:
        """Every listed SubIFD first (so they are numbered as listed), then their next chains."""
        pointers = read_ints(self.source, self.fmt, entry, f"{ifd.name} {tag_label(entry.tag)}")
        heads = []
        for k, pointer in enumerate(pointers):
            name = f"{ifd.name} SubIFD {k}"
            got = self.chain(pointer, lambda _i, n=name: n, "image", follow=False)
            ifd.children.extend(got)
            heads.extend((name, offset) for offset in got)
        for name, offset in heads:
            follow = self._next(self.seen[offset])
            ifd.children.extend(self.chain(follow, lambda i, n=name: f"{n}.{i + 1}", "image", before=(offset,)))

    def _single(self, ifd: Ifd, entry: Entry, label: str, kind: str) -> None:
        pointers = read_ints(self.source, self.fmt, entry, f"{ifd.name} {tag_label(entry.tag)}")
        if pointers and pointers[0]:
            name = f"{ifd.name} {label}"
            self.chain(pointers[0], lambda _i: name, kind, follow=False)


def read_value(source: ByteSource, fmt: TiffFormat, entry: Entry, what: str, limit: int | None = None) -> bytes:
    """The value bytes of an entry (inline or not), refusing values past the end of the file or
    above ``limit`` bytes before reading anything."""
    if entry.value_offset is None or entry.value_size is None:
        raise UnreadableImage(f"{what} has an unknown data type")
    if limit is not None and entry.value_size > limit:
        if entry.value_offset + entry.value_size > source.size:
            raise UnreadableImage(f"{what} declares {entry.value_size} bytes, past the end of the file")
        raise UnreadableImage(f"{what} declares {entry.value_size} bytes, more than we inspect ({limit})")
    if entry.inline:
        start = entry.value_offset - entry.entry_offset
        return entry.raw[start: start + entry.value_size]
    return read_exact(source, entry.value_offset, entry.value_size, what)


def read_ints(source: ByteSource, fmt: TiffFormat, entry: Entry, what: str, limit: int = 64 * 1024 * 1024) -> list[int]:
    """Integer values of an entry. NDPI single LONG/IFD values carry their high bits."""
    code = INT_CODES.get(entry.dtype)
    if code is None:
        raise UnreadableImage(f"{what} is not an integer tag")
    data = read_value(source, fmt, entry, what, limit)
    values = list(struct.unpack(f"{fmt.byteorder}{entry.count}{code}", data))
    if fmt.ndpi and entry.count == 1 and entry.dtype in (4, 13) and entry.high:
        values[0] |= struct.unpack("<I", entry.high)[0] << 32
    return values


def read_float(source: ByteSource, fmt: TiffFormat, entry: Entry, what: str) -> float | None:
    """First value of a numeric tag as a float (NDPI's Magnification is a FLOAT)."""
    if entry.dtype in FLOAT_CODES and entry.count >= 1:
        data = read_value(source, fmt, entry, what, 1024)
        return struct.unpack(fmt.byteorder + FLOAT_CODES[entry.dtype], data[: TYPE_SIZES[entry.dtype]])[0]
    if entry.dtype in INT_CODES and entry.count >= 1:
        return float(read_ints(source, fmt, entry, what, 1024)[0])
    return None


def data_ranges(source: ByteSource, fmt: TiffFormat, ifd: Ifd) -> list[tuple[int, int, Entry, int]]:
    """``(start, end, bytecounts entry, index)`` of every strip or tile of an image IFD."""
    offsets_entry, counts_entry = ifd.get(324), ifd.get(325)
    if offsets_entry is None or counts_entry is None:
        offsets_entry, counts_entry = ifd.get(273), ifd.get(279)
    if offsets_entry is None or counts_entry is None:
        return []
    offsets = read_ints(source, fmt, offsets_entry, f"{ifd.name} {tag_label(offsets_entry.tag)}")
    counts = read_ints(source, fmt, counts_entry, f"{ifd.name} {tag_label(counts_entry.tag)}")
    if len(offsets) != len(counts):
        raise UnreadableImage(f"{ifd.name}: strip/tile offsets and byte counts differ in number")
    ranges = []
    for index, (start, count) in enumerate(zip(offsets, counts, strict=True)):
        if count == 0:
            continue
        if start + count > source.size:
            raise UnreadableImage(f"{ifd.name}: image data points past the end of the file")
        ranges.append((start, start + count, counts_entry, index))
    return ranges


def encode_ifd(fmt: TiffFormat, ifd: Ifd, drop: set[int] | frozenset[int] = frozenset(),
               fields: dict[int, bytes] | None = None) -> bytes:
    """The IFD block as it would be with the ``drop`` tags removed and some inline value fields
    replaced, padded with zeros to the original block size (it never grows).

    Removing an entry shifts the later entries up; the count, the next-IFD offset and (NDPI) the
    high-bit words move with them. Nothing outside the block points into it, so this is safe.
    """
    fields = fields or {}
    kept = [e for e in ifd.entries if e.tag not in drop]
    parts = [struct.pack(fmt.byteorder + ("Q" if fmt.bigtiff else "H"), len(kept))]
    for entry in kept:
        raw = entry.raw
        if entry.tag in fields:
            head = 12 if fmt.bigtiff else 8
            new_field = fields[entry.tag]
            if len(new_field) != fmt.field_size:
                raise ValueError("a replaced value field must keep its size")
            raw = raw[:head] + new_field
        parts.append(raw)
    parts.append(ifd.next_raw)
    if fmt.ndpi:
        parts.extend(b"\x00\x00\x00\x00" if e.tag in fields else e.high for e in kept)
    block = b"".join(parts)
    if len(block) > ifd.block_size:
        raise ValueError("an edited IFD cannot grow")
    return block + b"\x00" * (ifd.block_size - len(block))
