"""Hamamatsu NDPI specifics: which page is the macro (the slide photo that shows the label).

The layout itself (64-bit offsets, high-bit words after each IFD) is read by ``tiff_header``;
the private tags removed from every NDPI IFD are listed in ``rules.NDPI_REMOVE_TAGS``.
NDPI has no separate label page: the label is part of the macro image, whose Magnification
(65421) is -1 (a "map" page, -2, shows only the scanned area and is kept).
"""

from __future__ import annotations

from htan_submission.phi.images.source import ByteSource
from htan_submission.phi.images.tiff_header import Ifd, TiffFormat, read_float

MAGNIFICATION = 65421


def associated_kind(source: ByteSource, fmt: TiffFormat, ifd: Ifd) -> str | None:
    entry = ifd.get(MAGNIFICATION)
    if entry is None:
        return None
    magnification = read_float(source, fmt, entry, f"{ifd.name} NDPI Magnification (65421)")
    return "macro" if magnification == -1.0 else None
