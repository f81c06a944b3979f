"""What counts as PHI in an image header: date/email/user patterns and the TIFF tag catalogue.

The patterns are deliberately strict (a full day-month-year, not a bare year or ``2016-06`` in an
OME namespace), because they decide what we *edit* inside free text that slide readers parse.
Whole tags that exist only to carry PHI (DateTime, Artist, ...) are removed without looking.
"""

from __future__ import annotations

import re

_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR4 = r"(?:1[89]\d\d|2\d\d\d)"
_TIME = r"(?:[T ]?(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?(?:\s?[AaPp][Mm])?(?:Z|[+-]\d\d:?\d\d)?)?"

DATE_RE = re.compile(
    r"(?<![\w.])(?:"
    rf"{_YEAR4}[-:/.]{_MONTH}[-:/.]{_DAY}{_TIME}"  # 2019-03-04, 2019:03:04 10:11:12 (TIFF)
    rf"|{_MONTH}/{_DAY}/(?:\d\d)?\d\d{_TIME}"  # 03/04/19, 03/04/2019 (Aperio, US)
    rf"|{_DAY}[.-]{_MONTH}[.-]{_YEAR4}{_TIME}"  # 04.03.2019
    rf"|{_DAY}[ -]{_MONTHS}[ -,]+{_YEAR4}{_TIME}"  # 4 Mar 2019
    rf"|{_MONTHS} {_DAY},? {_YEAR4}{_TIME}"  # March 4, 2019
    rf"|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]* {_MONTHS} +{_DAY} [0-9:]+ {_YEAR4}"  # ctime()
    r")(?![\w])",
    re.IGNORECASE,
)
TIME_RE = re.compile(r"(?<![\w.:])(?:[01]?\d|2[0-3]):[0-5]\d:[0-5]\d(?![\w:])")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
USER_RE = re.compile(r"\b(?:user(?:name)?|operator|login|scanned by|technician)\b|\b[A-Z][A-Z0-9-]+\\\w+", re.I)


def has_date(text: str) -> bool:
    return DATE_RE.search(text) is not None


def blank_matches(text: str, *patterns: re.Pattern) -> tuple[str, list[str]]:
    """Replace every match by spaces of the same length; return the new text and the matches."""
    found: list[str] = []

    def _blank(match: re.Match) -> str:
        found.append(match.group(0))
        return " " * len(match.group(0))

    for pattern in patterns:
        text = pattern.sub(_blank, text)
    return text, found


# Tags removed wherever they appear (main IFDs, SubIFDs, EXIF): code -> (name, rule, what).
REMOVE_TAGS: dict[int, tuple[str, str, str]] = {
    269: ("DocumentName", "phi.image.document_name", "a document name (often the original file name)"),
    285: ("PageName", "phi.image.page_name", "a page name"),
    306: ("DateTime", "phi.image.datetime", "a date/time"),
    315: ("Artist", "phi.image.artist", "a person's name (Artist)"),
    316: ("HostComputer", "phi.image.host", "a computer name"),
    700: ("XMP", "phi.image.xmp", "an XMP packet (creator, dates)"),
    33432: ("Copyright", "phi.image.copyright", "a copyright holder"),
    33723: ("IPTC", "phi.image.iptc", "IPTC metadata (names, dates)"),
    50735: ("CameraSerialNumber", "phi.image.serial", "a device serial number"),
    # EXIF IFD (34665) and its relatives
    36867: ("DateTimeOriginal", "phi.image.datetime", "a date/time"),
    36868: ("DateTimeDigitized", "phi.image.datetime", "a date/time"),
    36880: ("OffsetTime", "phi.image.datetime", "a time zone"),
    36881: ("OffsetTimeOriginal", "phi.image.datetime", "a time zone"),
    36882: ("OffsetTimeDigitized", "phi.image.datetime", "a time zone"),
    37500: ("MakerNote", "phi.image.maker_note", "a maker note (vendor data, may hold serials)"),
    37510: ("UserComment", "phi.image.comment", "a user comment"),
    37520: ("SubsecTime", "phi.image.datetime", "a time"),
    37521: ("SubsecTimeOriginal", "phi.image.datetime", "a time"),
    37522: ("SubsecTimeDigitized", "phi.image.datetime", "a time"),
    42016: ("ImageUniqueID", "phi.image.identifier", "a unique image identifier"),
    42032: ("CameraOwnerName", "phi.image.artist", "a person's name (camera owner)"),
    42033: ("BodySerialNumber", "phi.image.serial", "a device serial number"),
    42037: ("LensSerialNumber", "phi.image.serial", "a device serial number"),
}

# Hamamatsu NDPI private tags, only meaningful (and only removed) in NDPI files.
NDPI_REMOVE_TAGS: dict[int, tuple[str, str, str]] = {
    65427: ("NDPI SlideLabel", "phi.image.label", "the slide label text"),
    65442: ("NDPI ScannerSerialNumber", "phi.image.serial", "the scanner serial number"),
    65449: ("NDPI Properties", "phi.image.ndpi_properties", "scanner properties (dates, serials)"),
    65456: ("NDPI ScanTime", "phi.image.datetime", "the scan time"),
    65457: ("NDPI WriteTime", "phi.image.datetime", "the write time"),
}

TAG_NAMES = {
    254: "NewSubfileType", 256: "ImageWidth", 257: "ImageLength", 259: "Compression", 270: "ImageDescription",
    273: "StripOffsets", 279: "StripByteCounts", 305: "Software", 322: "TileWidth", 323: "TileLength",
    324: "TileOffsets", 325: "TileByteCounts", 330: "SubIFDs", 34665: "ExifIFD", 34853: "GPSIFD",
    40965: "InteroperabilityIFD", 65420: "NDPI FileFormat", 65421: "NDPI Magnification",
    **{code: name for code, (name, _, _) in REMOVE_TAGS.items()},
    **{code: name for code, (name, _, _) in NDPI_REMOVE_TAGS.items()},
}


def tag_label(code: int) -> str:
    """``DateTime (306)``: how a tag is named in a finding's column."""
    name = TAG_NAMES.get(code)
    return f"{name} ({code})" if name else f"tag {code}"
