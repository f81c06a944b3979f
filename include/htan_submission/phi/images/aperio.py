"""Aperio SVS ImageDescription: drop the identifying ``key = value`` pairs, keep the rest.

The description looks like ``Aperio Image Library v12.0.15\\r\\n46000x32914 [...] JPEG/RGB Q=70|
AppMag = 20|...|Date = 03/04/19|User = ...``; slide readers (OpenSlide, tifffile's ``is_svs``)
need the ``Aperio `` header and use pairs like ``MPP`` and ``AppMag``, so we edit the pair list
rather than blank the tag. tifffile's ``svs_description_metadata`` only parses; it cannot write.
"""

from __future__ import annotations

from htan_submission.phi.images.rules import DATE_RE, EMAIL_RE, blank_matches

# Keys (lower-cased) removed whatever their value: who, when, where and which file/scanner.
REMOVE_KEYS = {"date", "time", "time zone", "user", "scanscope id", "dsr id", "filename", "barcode"}
KEY_RULES = {"date": "phi.image.datetime", "time": "phi.image.datetime", "time zone": "phi.image.datetime",
             "user": "phi.image.aperio_user", "scanscope id": "phi.image.serial", "dsr id": "phi.image.serial",
             "filename": "phi.image.filename", "barcode": "phi.image.label"}


def is_aperio(text: str) -> bool:
    return text.startswith("Aperio ")


def scrub_description(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The description without identifying pairs, and ``(key, rule, value)`` per removed pair.

    Pairs are removed whole (with their ``|``) when their key is in ``REMOVE_KEYS`` or their
    value carries a date or an email address; a date in the header segment is blanked.
    """
    segments = text.split("|")
    header, removed = segments[0], []
    header, dates = blank_matches(header, DATE_RE)
    removed.extend(("header", "phi.image.datetime", value) for value in dates)
    kept = [header]
    for segment in segments[1:]:
        key, sep, value = segment.partition("=")
        name = key.strip()
        lowered = name.lower()
        if sep and lowered in REMOVE_KEYS:
            removed.append((name, KEY_RULES[lowered], value.strip()))
        elif sep and DATE_RE.search(value):
            removed.append((name, "phi.image.datetime", value.strip()))
        elif EMAIL_RE.search(segment):
            removed.append((name or "pair", "phi.image.email", value.strip()))
        else:
            kept.append(segment)
    return "|".join(kept), removed


def associated_kind(text: str) -> str | None:
    """``label`` or ``macro`` when this page is an associated image (the word opening the
    description's second line, as Aperio writes it and OpenSlide reads it)."""
    lines = text.splitlines()
    if len(lines) < 2 or not lines[1].strip():
        return None
    word = lines[1].strip().split()[0].lower()
    return word if word in ("label", "macro") else None


def mark_removed(text: str, kind: str, max_bytes: int) -> str | None:
    """``Aperio Image Library ...\\r\\nlabel removed`` (or a shorter word that fits where the old
    text was: ``blank``, ``none``); the first word stays, so readers still name the image."""
    first, sep, _rest = text.partition("\n")
    for word in ("removed", "blank", "none"):
        marked = f"{first}{sep or chr(10)}{kind} {word}"
        if len(marked.encode("utf-8", "surrogateescape")) < max_bytes:
            return marked
    return None
