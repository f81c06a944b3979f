"""Calendar dates: strict per-format detection, and parsing with the format that matched.

Why not ``pandas.to_datetime`` or ``dateutil``: both guess. pandas infers one format from the
first value (mixed formats raise, or become NaT under ``errors="coerce"``: a missed date);
integers parse as epoch nanoseconds; dateutil "parses" ``T1``, ``May``, ``3.5`` and ``1-2``. Here
every format is a strict, digit-agnostic regex (see :mod:`.detectors` for why digit-agnostic)
and every hit is confirmed with ``datetime.strptime`` and its explicit format, plus a plausible
year (1900 .. next year). Nothing is ever decided "not a date" by a failed coercion alone: a value
is a date when some format matches *and* parses.

Compact ``YYYYMMDD`` numbers, Excel serial numbers and dash/dot dates with two-digit years are
only looked for in date-like columns (the name says DATE, DOB, _DT ...): elsewhere they collide
with IDs, counts and versions. Month-and-day without a year (``June 12``) is not detected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from htan_submission.phi.detectors import ColumnProfile, Detector, any_column, column_profile

MIN_YEAR = 1900
EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug moves the epoch)
MIN_EXCEL_SERIAL = 3654  # 1910-01-01: below it, 4-digit numbers are years (allowed), not serials

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MON = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
        r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
MON = rf"(?i:{_MON})(?![A-Za-z])"
_MONTH_WORD = re.compile(rf"(?i){_MON}")
# An optional time after a date: 10:22, 10:22:00, 10:22:00.123Z, 10:22 PM, +01:00.
TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?: ?[AaPp]\.?[Mm]\.?)?(?:Z| ?[+-]\d{2}:?\d{2}| ?UTC)?)?"
NUM_START = r"(?<![A-Za-z0-9./-])"
NUM_END = r"(?![0-9/]|[.-]\d)"

FIX = ("calendar dates are PHI: convert it to days from birth in the matching AGE_IN_DAYS_* column "
       "(htan-submit scrub-table) or remove it")


def max_year() -> int:
    return date.today().year + 1


def _plausible(day: date) -> bool:
    return MIN_YEAR <= day.year <= max_year()


@dataclass(frozen=True)
class DateFormat:
    """One way of writing a date. ``formats`` are (strptime format, day order) pairs tried on the
    ``d`` group after ``normalise``; more than one pair means the text alone may be ambiguous."""

    kind: str
    regex: str
    formats: tuple[tuple[str, str], ...] = ()
    whole_cell: bool = False
    date_columns_only: bool = False
    dotted: bool = False
    two_digit_year: bool = False
    has_day: bool = True
    normalise: Callable[[str], str] = field(default=lambda text: text)
    custom: Callable[[str], list[tuple[date, str]]] | None = None
    needs: tuple[str, ...] = ("0",)  # substrings of every match's shape (see detectors.Detector)

    def candidates(self, match: re.Match) -> list[tuple[date, str]]:
        """Every (date, order) the matched text can mean, each parsed and plausible."""
        text = match.group("d")
        if self.custom is not None:
            return self.custom(text)
        text = self.normalise(text)
        out: list[tuple[date, str]] = []
        for fmt, order in self.formats:
            try:
                day = datetime.strptime(text, fmt).date()
            except ValueError:
                continue
            if self.two_digit_year or _plausible(day):
                out.append((day, order))
        return out

    def applies(self, profile: ColumnProfile) -> bool:
        if self.date_columns_only and not profile.date_like:
            return False
        return not (self.dotted and profile.version_like)


def _slashes(text: str) -> str:
    return re.sub(r"[.-]", "/", text)


def _month_numeric(text: str) -> str:
    """``March 4th, 2019`` -> ``03 4 2019``: month names become numbers (locale-proof strptime)."""
    text = _MONTH_WORD.sub(lambda m: f"{MONTHS.index(m.group(0)[:3].lower()) + 1:02d}", text)
    text = re.sub(r"(?i)(?<=\d)(?:st|nd|rd|th)", "", text)
    return re.sub(r"[\s,./-]+", " ", text).strip()


def _excel_serial(text: str) -> list[tuple[date, str]]:
    serial = float(text)
    last = (date(max_year(), 12, 31) - EXCEL_EPOCH).days
    if not MIN_EXCEL_SERIAL <= serial <= last:
        return []
    return [(EXCEL_EPOCH + timedelta(days=int(serial)), "")]


MDY_DMY = (("%m/%d/%Y", "MDY"), ("%d/%m/%Y", "DMY"))
MDY_DMY_YY = (("%m/%d/%y", "MDY"), ("%d/%m/%y", "DMY"))

DATE_FORMATS: tuple[DateFormat, ...] = (
    DateFormat("an ISO date", rf"{NUM_START}(?P<d>\d{{4}}-\d{{1,2}}-\d{{1,2}}){TIME}{NUM_END}", (("%Y-%m-%d", ""),),
               needs=("0000-0",)),
    DateFormat("a year-first date", rf"{NUM_START}(?P<d>\d{{4}}/\d{{1,2}}/\d{{1,2}}){TIME}{NUM_END}",
               (("%Y/%m/%d", ""),), needs=("0000/0",)),
    DateFormat("a year-first date", rf"{NUM_START}(?P<d>\d{{4}}\.\d{{1,2}}\.\d{{1,2}}){TIME}{NUM_END}",
               (("%Y.%m.%d", ""),), dotted=True, needs=("0000.0",)),
    DateFormat("a US or European date", rf"{NUM_START}(?P<d>\d{{1,2}}(?P<s>[/-])\d{{1,2}}(?P=s)\d{{4}}){TIME}{NUM_END}",
               MDY_DMY, normalise=_slashes, needs=("/0000", "-0000")),
    DateFormat("a European date", rf"{NUM_START}(?P<d>\d{{1,2}}\.\d{{1,2}}\.\d{{4}}){TIME}{NUM_END}",
               MDY_DMY, normalise=_slashes, dotted=True, needs=(".0000",)),
    DateFormat("a date with a month name",
               rf"(?<![A-Za-z])(?P<d>{MON}\.?[ -]\d{{1,2}}(?:st|nd|rd|th)?(?:, ?|[ -])\d{{4}})(?![0-9])",
               (("%m %d %Y", ""),), normalise=_month_numeric, needs=(" 0000", ",0000", "-0000")),
    DateFormat("a date with a month name",
               rf"(?<![A-Za-z0-9])(?P<d>\d{{1,2}}(?:st|nd|rd|th)?[ -]{MON}\.?,?[ -]\d{{4}})(?![0-9])",
               (("%d %m %Y", ""),), normalise=_month_numeric, needs=(" 0000", "-0000")),
    DateFormat("a date with a two-digit year", rf"{NUM_START}(?P<d>\d{{1,2}}/\d{{1,2}}/\d{{2}}){TIME}{NUM_END}",
               MDY_DMY_YY, two_digit_year=True, needs=("0/00",)),
    DateFormat("a date with a two-digit year",
               rf"(?<![A-Za-z0-9])(?P<d>\d{{1,2}}-{MON}\.?-\d{{2}})(?![0-9])",
               (("%d %m %y", ""),), normalise=_month_numeric, two_digit_year=True, needs=("-00",)),
    DateFormat("a date with a two-digit year", rf"(?P<d>\d{{1,2}}(?P<s>[.-])\d{{1,2}}(?P=s)\d{{2}}){TIME}",
               (*MDY_DMY_YY, ("%y/%m/%d", "YMD")), normalise=_slashes, two_digit_year=True,
               whole_cell=True, date_columns_only=True, needs=("-00", ".00")),
    DateFormat("a month and year", rf"(?<![A-Za-z0-9])(?P<d>{MON}\.?,?[ -]\d{{4}})(?![0-9])",
               (("%m %Y", ""),), normalise=_month_numeric, has_day=False, needs=(" 0000", "-0000")),
    DateFormat("a month and year", r"(?P<d>\d{4}-\d{2})", (("%Y-%m", ""),), whole_cell=True, has_day=False,
               needs=("0000-00",)),
    DateFormat("a month and year", r"(?P<d>\d{1,2}/\d{4})", (("%m/%Y", ""),), whole_cell=True, has_day=False,
               needs=("/0000",)),
    DateFormat("a compact date (YYYYMMDD)", r"(?P<d>\d{8})", (("%Y%m%d", ""),), whole_cell=True,
               date_columns_only=True, needs=("00000000",)),
    DateFormat("an Excel date serial number", r"(?P<d>\d{4,5}(?:\.\d+)?)", whole_cell=True,
               date_columns_only=True, custom=_excel_serial, needs=("0000",)),
)
_COMPILED = tuple(re.compile(f.regex) for f in DATE_FORMATS)


def _detector(fmt: DateFormat, pattern: re.Pattern) -> Detector:
    return Detector("phi.date", fmt.kind, pattern, FIX, confirm=lambda m: bool(fmt.candidates(m)),
                    applies=fmt.applies if fmt.date_columns_only or fmt.dotted else any_column,
                    whole_cell=fmt.whole_cell, needs=fmt.needs)


DATE_DETECTORS: tuple[Detector, ...] = tuple(_detector(f, p) for f, p in zip(DATE_FORMATS, _COMPILED, strict=True))


def is_date_column(name: object) -> bool:
    return column_profile(name).date_like


def find_date(value: str, column: object = "") -> re.Match | None:
    """The first confirmed date in ``value`` (one cell), with the column's name as context."""
    profile = column_profile(column)
    for detector in DATE_DETECTORS:
        if detector.applies(profile):
            match = detector.find(value)
            if match:
                return match
    return None


# ---------------------------------------------------------------------------------------------
# Parsing one date cell for conversion to days: no guessing.

DATE_ORDERS = ("MDY", "DMY")


@dataclass(frozen=True)
class ParsedDate:
    """Either ``day`` or a ``problem``: ``unreadable``, ``ambiguous`` (day/month order),
    ``two_digit_year`` (century) or ``no_day`` (month and year only)."""

    day: date | None
    problem: str | None = None
    kind: str | None = None


PROBLEMS = {
    "unreadable": "is not a date in any format this tool knows; write it as YYYY-MM-DD",
    "ambiguous": "could be month/day or day/month; write it as YYYY-MM-DD or give the date order "
                 "(--date-order MDY|DMY, or date_order in centers.yaml)",
    "two_digit_year": "has a two-digit year, so the century is unknown; write it as YYYY-MM-DD",
    "no_day": "has no day (month and year only); give the full date as YYYY-MM-DD",
}


def parse_date(value: str, date_order: str | None = None) -> ParsedDate:
    """Parse one whole cell of a date column (every format applies, serials and compact too)."""
    text = value.strip()
    for fmt, pattern in zip(DATE_FORMATS, _COMPILED, strict=True):
        match = pattern.fullmatch(text)
        if not match:
            continue
        found = fmt.candidates(match)
        if not found:
            continue
        if fmt.two_digit_year:
            return ParsedDate(None, "two_digit_year", fmt.kind)
        if not fmt.has_day:
            return ParsedDate(None, "no_day", fmt.kind)
        days = {day for day, _ in found}
        if len(days) == 1:
            return ParsedDate(days.pop(), None, fmt.kind)
        chosen = [day for day, order in found if order == date_order]
        if chosen:
            return ParsedDate(chosen[0], None, fmt.kind)
        return ParsedDate(None, "ambiguous", fmt.kind)
    return ParsedDate(None, "unreadable", None)
