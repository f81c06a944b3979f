"""Plan the scrub of a TIFF-family file (TIFF, BigTIFF, SVS, OME-TIFF, NDPI): what is there and
which byte overwrites remove it, touching only headers, tag values and label/macro pixels.

Every IFD is visited (main chain, SubIFDs, EXIF, GPS): a one-tag cleaner that only fixed the
first IFD once let DateTime through on every pyramid level.
"""

from __future__ import annotations

import struct
import zlib

from htan_submission.findings import mask_value
from htan_submission.phi.images import aperio, ndpi, ome
from htan_submission.phi.images.patches import Item, Patch, Plan, merge_patches
from htan_submission.phi.images.rules import (
    DATE_RE,
    EMAIL_RE,
    NDPI_REMOVE_TAGS,
    REMOVE_TAGS,
    USER_RE,
    blank_matches,
    tag_label,
)
from htan_submission.phi.images.source import ByteSource, UnreadableImage
from htan_submission.phi.images.tiff_header import (
    GPS_IFD,
    TYPE_SIZES,
    Entry,
    Ifd,
    TiffLayout,
    data_ranges,
    encode_ifd,
    read_ints,
    read_layout,
    read_value,
)

TEXT_LIMIT = 64 * 1024 * 1024  # larger text tags are refused, never read
GENERIC_LABELS = {"label", "macro", "label image", "macro image", "label_image", "macro_image", "slide label"}
DEFLATE = (8, 32946)


def plan_tiff(source: ByteSource) -> Plan:
    """Read the header of ``source`` and return the plan; ``UnreadableImage`` if it is damaged."""
    layout = read_layout(source)
    return _Planner(source, layout).run()


class _Planner:
    """One pass over the IFDs collecting, per IFD, the tags to drop and the values to rewrite;
    the IFD blocks are encoded once at the end (a block may lose several tags)."""

    def __init__(self, source: ByteSource, layout: TiffLayout):
        self.source, self.layout, self.fmt = source, layout, layout.fmt
        self.drops: dict[int, set[int]] = {}  # IFD offset -> tags to remove
        self.fields: dict[int, dict[int, bytes]] = {}  # IFD offset -> inline value fields to replace
        self.edited: set[tuple[int, int]] = set()  # (IFD offset, tag) whose out-of-line value we rewrite
        self.blanked: set[int] = set()  # IFDs whose pixels are planned black
        self.flavour = self.fmt.name.lower()
        self.plan = Plan(format=self.flavour)

    # -- driver ---------------------------------------------------------------------------
    def run(self) -> Plan:
        first = self.layout.ifds[0]
        entry = first.get(270)
        description = self._text(first, entry) if entry is not None and entry.dtype in (1, 2, 7) else None
        if description is not None and ome.is_ome(description):
            self.flavour = "ome-tiff"
        elif description is not None and aperio.is_aperio(description):
            self.flavour = "svs"
        elif self.fmt.ndpi:
            self.flavour = "ndpi"
        self.plan.format = self.flavour
        label_ifds: set[int] = set()
        by_offset = self.layout.by_offset()
        for ifd in self.layout.ifds:
            if ifd.kind == "gps":
                self._drop_gps(ifd, by_offset)
                continue
            self._tags(ifd)
            kind = self._description(ifd, label_ifds)
            if kind is None and self.fmt.ndpi and ifd.kind == "image":
                kind = ndpi.associated_kind(self.source, self.fmt, ifd)
            if kind is None and ifd.kind == "image":
                kind = self._generic_label(ifd)
            if kind:
                self._blank_image(ifd, kind, by_offset)
        for index in sorted(label_ifds):
            main = [i for i in self.layout.ifds if i.main_index == index]
            if main:
                self._blank_image(main[0], "label", by_offset)
            else:
                self.plan.add(Item("OME label image", "phi.image.label", "a label/macro image the OME-XML points to",
                                   "not found in this file; check it by hand", severity="warning"))
        self._finish()
        return self.plan

    def _finish(self) -> None:
        for ifd in self.layout.ifds:
            drop, fields = self.drops.get(ifd.offset, set()), self.fields.get(ifd.offset, {})
            if drop or fields:
                self.plan.patches.append(Patch(ifd.offset, encode_ifd(self.fmt, ifd, drop, fields), order=1))
        self.plan.protected = self._protected()
        self.plan.patches = merge_patches(self.plan.patches, self.layout.size, self.plan.protected)

    def _protected(self) -> list[tuple[int, int]]:
        """Bytes no patch may touch: the header, IFDs we do not rewrite, values we keep."""
        header = 16 if self.fmt.bigtiff else 12 if self.fmt.ndpi else 8
        ranges = [(0, header)]
        for ifd in self.layout.ifds:
            drop = self.drops.get(ifd.offset, set())
            if not drop and not self.fields.get(ifd.offset):
                ranges.append((ifd.offset, ifd.end))
            for entry in ifd.entries:
                span = entry.value_range
                if span and entry.tag not in drop and (ifd.offset, entry.tag) not in self.edited:
                    ranges.append(span)
        return ranges

    # -- whole tags ---------------------------------------------------------------------
    def _tags(self, ifd: Ifd) -> None:
        for entry in ifd.entries:
            spec = REMOVE_TAGS.get(entry.tag) or (NDPI_REMOVE_TAGS.get(entry.tag) if self.fmt.ndpi else None)
            if spec:
                _name, rule, what = spec
                sample = None
                if rule == "phi.image.datetime" and entry.dtype == 2:
                    sample = mask_value(self._text(ifd, entry))
                self._drop(ifd, entry, Item(f"{ifd.name} {tag_label(entry.tag)}", rule, what, "removed the tag",
                                            sample))
            elif entry.tag == 305 and entry.dtype in (1, 2, 7):
                text = self._text(ifd, entry)
                if DATE_RE.search(text) or USER_RE.search(text) or EMAIL_RE.search(text):
                    self._drop(ifd, entry, Item(f"{ifd.name} Software (305)", "phi.image.software",
                                                "a software string carrying a date or user name", "removed the tag"))

    def _drop(self, ifd: Ifd, entry: Entry, item: Item) -> None:
        self.drops.setdefault(ifd.offset, set()).add(entry.tag)
        patches = []
        span = entry.value_range
        if span:
            self._check_span(ifd, entry, span)
            patches.append(Patch(span[0], bytes(span[1] - span[0])))
        self.plan.add(item, *patches)

    def _drop_gps(self, ifd: Ifd, by_offset: dict[int, Ifd]) -> None:
        """A GPS IFD is a location: empty it, and remove the pointer to it."""
        for entry in ifd.entries:
            self.drops.setdefault(ifd.offset, set()).add(entry.tag)
            span = entry.value_range
            if span:
                self._check_span(ifd, entry, span)
                self.plan.patches.append(Patch(span[0], bytes(span[1] - span[0])))
        for parent in by_offset.values():
            pointer = parent.get(GPS_IFD)
            if pointer is not None and read_ints(self.source, self.fmt, pointer, parent.name)[:1] == [ifd.offset]:
                self.drops.setdefault(parent.offset, set()).add(GPS_IFD)
        if ifd.entries:
            self.plan.add(Item(f"{ifd.name}", "phi.image.gps", f"GPS location data ({len(ifd.entries)} tags)",
                               "removed the GPS IFD and the pointer to it"))

    def _check_span(self, ifd: Ifd, entry: Entry, span: tuple[int, int]) -> None:
        if span[1] > self.layout.size:
            raise UnreadableImage(f"{ifd.name} {tag_label(entry.tag)} points past the end of the file")

    # -- ImageDescription ---------------------------------------------------------------
    def _description(self, ifd: Ifd, label_ifds: set[int]) -> str | None:
        """Scrub the description by flavour; return ``label``/``macro`` if it names one."""
        entry = ifd.get(270)
        if entry is None or entry.dtype not in (1, 2, 7) or entry.inline:
            return None
        text = self._text(ifd, entry)
        where = f"{ifd.name} ImageDescription (270)"
        if ifd.main_index == 0 and ome.is_ome(text):
            self._ome(ifd, entry, text, label_ifds)
            return None
        if aperio.is_aperio(text):
            return self._aperio(ifd, entry, text, where)
        new, found = blank_matches(text, DATE_RE, EMAIL_RE)
        if found:
            self._rewrite(ifd, entry, new)
            for value in found:
                rule = "phi.image.email" if "@" in value else "phi.image.datetime"
                self.plan.add(Item(where, rule, "an email address" if "@" in value else "a date",
                                   "blanked it in the description", mask_value(value)))
        return None

    def _aperio(self, ifd: Ifd, entry: Entry, text: str, where: str) -> str | None:
        kind = aperio.associated_kind(text)
        new, removed = aperio.scrub_description(text)
        if kind:
            marked = aperio.mark_removed(new, kind, entry.value_size or 0)
            new = marked if marked is not None else new
        if new != text:
            self._rewrite(ifd, entry, new)
        for key, rule, value in removed:
            sample = mask_value(value) if rule == "phi.image.datetime" else None
            self.plan.add(Item(f"{where} Aperio {key}", rule, f"the Aperio {key!r} field",
                               "removed the key from the description", sample))
        return kind

    def _ome(self, ifd: Ifd, entry: Entry, text: str, label_ifds: set[int]) -> None:
        try:
            new, found, labels, unlocated = ome.scrub_xml(text)
        except ome.OmeError as exc:
            raise UnreadableImage(f"{ifd.name} ImageDescription (270): {exc}") from None
        label_ifds.update(labels)
        if found:
            if len(self._encode(new)) >= (entry.value_size or 0):
                raise UnreadableImage("the cleaned OME-XML does not fit in the space of the old one")
            self._rewrite(ifd, entry, new)
        for finding in found:
            sample = mask_value(finding.value) if finding.rule == "phi.image.datetime" else None
            self.plan.add(Item(finding.location, finding.rule, finding.what,
                               "removed it from the OME-XML", sample))
        if unlocated:
            self.plan.add(Item("OME label image", "phi.image.label",
                               f"{unlocated} label/macro image(s) whose IFD the OME-XML does not give",
                               "could not blank them; check the file by hand", severity="warning"))

    def _generic_label(self, ifd: Ifd) -> str | None:
        for tag in (270, 285):
            entry = ifd.get(tag)
            if entry is not None and entry.dtype in (1, 2, 7):
                word = self._text(ifd, entry).strip().lower()
                if word in GENERIC_LABELS:
                    return "macro" if "macro" in word else "label"
        return None

    # -- text values --------------------------------------------------------------------
    def _text(self, ifd: Ifd, entry: Entry) -> str:
        data = read_value(self.source, self.fmt, entry, f"{ifd.name} {tag_label(entry.tag)}", TEXT_LIMIT)
        return data.rstrip(b"\x00").decode("utf-8", "surrogateescape")

    @staticmethod
    def _encode(text: str) -> bytes:
        return text.encode("utf-8", "surrogateescape")

    def _rewrite(self, ifd: Ifd, entry: Entry, text: str) -> None:
        """Overwrite the value with ``text`` NUL-padded to the old length; count unchanged."""
        data = self._encode(text)
        size = entry.value_size or 0
        if len(data) >= size or entry.value_offset is None:
            raise UnreadableImage(f"{ifd.name} {tag_label(entry.tag)}: the edited text does not fit")
        self.edited.add((ifd.offset, entry.tag))
        self.plan.patches.append(Patch(entry.value_offset, data + bytes(size - len(data))))

    # -- label and macro pixels ---------------------------------------------------------
    def _blank_image(self, ifd: Ifd, kind: str, by_offset: dict[int, Ifd]) -> None:
        compression = self._int(ifd, 259, 1)
        decodable = compression == 1 or compression in DEFLATE
        pages = [ifd, *(by_offset[o] for o in ifd.children if o in by_offset)]
        if ifd.offset in self.blanked:
            return
        self.blanked.add(ifd.offset)
        if all(self._is_black(page, compression) for page in pages):
            return
        for page in pages:
            self._blank_pixels(page, compression)
        action = "overwrote its pixel data with zeros (black)"
        if not decodable:
            action += f"; its compressed data (compression {compression}) no longer decodes, which readers " \
                      "report as a broken associated image"
        self.plan.add(Item(f"{ifd.name} ({kind} image)", "phi.image.label",
                           f"the {kind} image (a picture of the slide label: names, barcodes)", action))

    def _is_black(self, ifd: Ifd, compression: int) -> bool:
        """Blanked already? We zero every segment whole (or write a deflated black stream), so
        the first 4 KiB of each segment tell; a real label never starts with 4 KiB of zeros."""
        for start, end, _entry, _index in data_ranges(self.source, self.fmt, ifd):
            head = self.source.read(start, min(end - start, 4096))
            if not head.strip(b"\x00"):
                continue
            if compression in DEFLATE:
                try:
                    inflated = zlib.decompressobj().decompress(head, 65536)
                except zlib.error:
                    return False
                if inflated and not inflated.strip(b"\x00"):
                    continue
            return False
        return True

    def _blank_pixels(self, ifd: Ifd, compression: int) -> None:
        ranges = data_ranges(self.source, self.fmt, ifd)
        if not ranges:
            return
        counts_entry = ranges[0][2]
        new_counts: dict[int, int] = {}
        for start, end, _entry, index in ranges:
            black = None
            if compression in DEFLATE:
                black = zlib.compress(bytes(self._segment_size(ifd, index)), 9)
                if len(black) > end - start:
                    black = None
            if black is None:
                self.plan.patches.append(Patch(start, bytes(end - start)))
            else:
                self.plan.patches.append(Patch(start, black + bytes(end - start - len(black))))
                new_counts[index] = len(black)
        if new_counts:
            self._set_counts(ifd, counts_entry, new_counts)

    def _set_counts(self, ifd: Ifd, entry: Entry, new_counts: dict[int, int]) -> None:
        """Shrink strip/tile byte counts to the black streams we wrote (offsets unchanged)."""
        values = read_ints(self.source, self.fmt, entry, f"{ifd.name} {tag_label(entry.tag)}")
        for index, count in new_counts.items():
            values[index] = count
        code = {3: "H", 4: "I", 16: "Q"}.get(entry.dtype)
        if code is None:
            return
        packed = struct.pack(f"{self.fmt.byteorder}{len(values)}{code}", *values)
        if entry.inline:
            field = packed + bytes(self.fmt.field_size - len(packed))
            self.fields.setdefault(ifd.offset, {})[entry.tag] = field
        elif entry.value_offset is not None:
            self.edited.add((ifd.offset, entry.tag))
            self.plan.patches.append(Patch(entry.value_offset, packed))

    def _segment_size(self, ifd: Ifd, index: int) -> int:
        """Decoded bytes of strip/tile ``index`` (what a reader expects to inflate)."""
        width, length = self._int(ifd, 256, 0), self._int(ifd, 257, 0)
        samples = self._int(ifd, 277, 1)
        planar = self._int(ifd, 284, 1)
        bits = self._int(ifd, 258, 8)
        per_pixel = (samples if planar == 1 else 1) * bits
        if ifd.get(322) is not None:
            tile_w, tile_l = self._int(ifd, 322, 0), self._int(ifd, 323, 0)
            return (tile_w * per_pixel + 7) // 8 * tile_l
        rows = self._int(ifd, 278, length) or length
        strips_per_plane = max(1, -(-length // rows))
        rows_here = min(rows, length - (index % strips_per_plane) * rows)
        return (width * per_pixel + 7) // 8 * max(rows_here, 0)

    def _int(self, ifd: Ifd, tag: int, default: int) -> int:
        entry = ifd.get(tag)
        if entry is None or entry.dtype not in (1, 3, 4, 16) or TYPE_SIZES.get(entry.dtype) is None:
            return default
        values = read_ints(self.source, self.fmt, entry, f"{ifd.name} {tag_label(tag)}", 1024 * 1024)
        return values[0] if values else default

