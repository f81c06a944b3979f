"""Free-text identifier detectors (email, phone, SSN, MRN, URL, IP, ZIP, payment card).

Why hand-written regexes: no PHI library is installed here, and the well-known ones either need
a language model (Presidio, philter, scrubadub's name detectors) or run per cell in Python. Safe
Harbor's machine-shaped identifiers are regular enough for patterns, and manifest columns repeat
values heavily, so :mod:`htan_submission.phi.tables` runs these patterns over the *unique* values
of each column (and first over their digit-blind "shapes"), then confirms each candidate with a
check a regex cannot do (Luhn, NANP rules, SSN ranges, octet ranges, ``ipaddress``).

Every pattern here is **digit-agnostic**: it uses ``\\d`` and never a specific digit, so that a
value and its shape (every ASCII digit turned into ``0``) match alike; all rules about which
digits are valid live in the ``confirm`` functions. Person names are *not* detected: no offline
method finds them with confidence (see the README).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from htan_submission.findings import mask_value

# ---------------------------------------------------------------------------------------------
# Column names: which columns a column-scoped detector applies to.

DATE_TOKENS = frozenset({"DATE", "DATES", "DOB", "DOD", "DT", "DTTM", "DATETIME", "TIMESTAMP", "BIRTHDAY",
                         "BIRTHDATE"})
NOT_DATE_TOKENS = frozenset({"UPDATE", "CANDIDATE", "MANDATE", "VALIDATE", "LIQUIDATE", "CONSOLIDATE",
                             "ACCOMMODATE"})
ZIP_TOKENS = frozenset({"ZIP", "ZIPCODE", "ZIP5", "POSTAL", "POSTCODE", "POSTALCODE"})
PHONE_TOKENS = frozenset({"PHONE", "TELEPHONE", "TEL", "FAX", "MOBILE", "CELLPHONE", "PHONENUMBER"})
SSN_TOKENS = frozenset({"SSN", "SOCIAL"})
URL_TOKENS = frozenset({"URL", "URI", "LINK", "HREF", "WEBSITE"})
VERSION_TOKENS = frozenset({"VERSION", "VERSIONS", "SOFTWARE"})


def name_tokens(name: object) -> tuple[str, ...]:
    """``DateOfBirth`` / ``date of birth`` / ``DATE_OF_BIRTH`` -> ``('DATE', 'OF', 'BIRTH')``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name))
    return tuple(t for t in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if t)


@dataclass(frozen=True)
class ColumnProfile:
    """What a column's *name* says about the values it may hold."""

    date_like: bool = False
    zip_like: bool = False
    phone_like: bool = False
    ssn_like: bool = False
    mrn_like: bool = False
    url_like: bool = False
    version_like: bool = False


@lru_cache(maxsize=4096)
def column_profile(name: object) -> ColumnProfile:
    tokens = name_tokens(name)
    token_set = set(tokens)
    date_like = any(t in DATE_TOKENS or t.startswith("DATE")
                    or (t.endswith("DATE") and t not in NOT_DATE_TOKENS) for t in tokens)
    return ColumnProfile(
        date_like=date_like,
        zip_like=bool(token_set & ZIP_TOKENS),
        phone_like=bool(token_set & PHONE_TOKENS),
        ssn_like=bool(token_set & SSN_TOKENS),
        mrn_like="MRN" in token_set or {"MEDICAL", "RECORD"} <= token_set,
        url_like=bool(token_set & URL_TOKENS),
        version_like=bool(token_set & VERSION_TOKENS),
    )


# ---------------------------------------------------------------------------------------------
# The detector shape shared with dates.py.

def _always(_match: re.Match) -> bool:
    return True


def any_column(_profile: ColumnProfile) -> bool:
    return True


@dataclass(frozen=True)
class Detector:
    """One kind of identifier: a digit-agnostic pattern, a confirmation, and where it applies.

    ``whole_cell`` patterns must match the entire cell (e.g. a bare 5-digit ZIP in a ZIP column);
    the others are searched inside free text. ``fix`` ends the finding's message. ``needs`` must be
    a necessary condition of the pattern (tests check the scan equals a plain per-value scan).
    """

    rule: str
    kind: str
    pattern: re.Pattern
    fix: str
    confirm: Callable[[re.Match], bool] = _always
    applies: Callable[[ColumnProfile], bool] = any_column
    whole_cell: bool = False
    # The shape (digits -> 0) of any match contains one of these substrings: a cheap test that
    # spares the regex on the many values that cannot match ("0000" = four digits in a row).
    needs: tuple[str, ...] = ("0",)

    def find(self, value: str) -> re.Match | None:
        """The first confirmed occurrence in ``value`` (exact check, after the shape filter)."""
        if self.whole_cell:
            match = self.pattern.fullmatch(value)
            return match if match and self.confirm(match) else None
        for match in self.pattern.finditer(value):
            if self.confirm(match):
                return match
        return None

    def message(self, match: re.Match) -> str:
        return f"{self.kind} ({mask_value(match.group(0))}); {self.fix}"


# ---------------------------------------------------------------------------------------------
# Confirmations: the digit rules that the digit-agnostic patterns leave out.

def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9])|35|3(?:0[0-5]|[68])")


def _card_ok(match: re.Match) -> bool:
    digits = _digits(match.group(0))
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


def _nanp_ok(digits: str) -> bool:
    """North American numbers: area code and exchange start with 2-9; not 555-01xx-style N11 area codes."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] >= "2" and digits[3] >= "2" and digits[1:3] != "11"


def _us_phone_ok(match: re.Match) -> bool:
    return _nanp_ok(_digits(match.group(0)))


def _intl_phone_ok(match: re.Match) -> bool:
    text = match.group(0)
    digits = _digits(text)
    if not 9 <= len(digits) <= 15 or digits[0] == "0":
        return False
    # "+1234567890" with no separator at all is a signed number unless it has a phone's length.
    return len(digits) >= 10 or bool(re.search(r"[ ().-]", text))


def _plain_phone_ok(match: re.Match) -> bool:
    return _nanp_ok(match.group(0)) or 10 <= len(match.group(0)) <= 15


def _ssn_ok(match: re.Match) -> bool:
    digits = _digits(match.group(0))
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ipv4_ok(match: re.Match) -> bool:
    parts = match.group(0).split(".")
    return all(len(p) == 1 or p[0] != "0" for p in parts) and all(int(p) <= 255 for p in parts) \
        and match.group(0) != "0.0.0.0"


def _ipv6_ok(match: re.Match) -> bool:
    text = match.group(0)
    if sum(bool(g) for g in text.split(":")) < 2:
        return False
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


# Public scientific resources that a manifest may cite in free text; a URL on these hosts points
# at a workflow, a reference or a data portal, never at a person.
PUBLIC_URL_HOSTS = (
    "github.com", "gitlab.com", "bitbucket.org", "doi.org", "zenodo.org", "synapse.org", "humantumoratlas.org",
    "nih.gov", "cancer.gov", "ensembl.org", "gencodegenes.org", "ucsc.edu", "ebi.ac.uk", "10xgenomics.com",
    "dockstore.org", "nf-co.re", "bioconductor.org", "pypi.org", "readthedocs.io", "identifiers.org",
    "obolibrary.org", "broadinstitute.org", "sagebionetworks.org", "docker.io", "quay.io",
)


def _url_host(text: str) -> str:
    host = re.sub(r"(?i)^(?:[a-z]+://)?", "", text).split("/", 1)[0].split("?", 1)[0]
    return host.rsplit("@", 1)[-1].split(":", 1)[0].lower()


def _url_ok(match: re.Match) -> bool:
    host = _url_host(match.group(0))
    return not any(host == h or host.endswith("." + h) for h in PUBLIC_URL_HOSTS)


_HTAN_ID = re.compile(r"HTA\d{1,3}_(?:0000|EXT\d+|\d+)(?:_[BDP]\d+)?")


def _mrn_cell_ok(match: re.Match) -> bool:
    return not _HTAN_ID.search(match.group(0))


# Safe Harbor: these 3-digit ZIP prefixes cover fewer than 20,000 people and must be written 000.
SMALL_ZIP3 = frozenset({"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
                        "879", "884", "890", "893"})


def _small_zip3_ok(match: re.Match) -> bool:
    return match.group(0) in SMALL_ZIP3


# ---------------------------------------------------------------------------------------------
# The detectors. Order within a rule matters: the first confirmed one names the finding.

_MRN_LABEL = (r"(?:MRN|MR\s?#|MR\s?No\.?|Med(?:ical)?\.?\s?Rec(?:ord)?\.?\s?(?:No\.?|Number|Num|#)?"
              r"|Chart\s?(?:No\.?|Number|#)|Patient\s?(?:No\.?|Number|#)"
              r"|(?:Acct|Account|Member|Policy|Subscriber|Health\s?Plan|Insurance)\s?(?:ID|No\.?|Number|#))")

FIX_REMOVE = "identifiers of a person are PHI: remove it"
FIX_ZIP = ("geography below state level is PHI: keep at most the first 3 digits of a ZIP code (000 for the "
           "17 small areas), or remove it")
FIX_MRN = "use the HTAN participant or biospecimen ID instead of the hospital's number"

IDENTIFIER_DETECTORS: tuple[Detector, ...] = (
    Detector("phi.email", "an email address",
             re.compile(r"(?<![\w.%+-])[A-Za-z0-9][\w.%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"),
             FIX_REMOVE + " (contacts belong in the correspondence with the liaison, not in a manifest)",
             needs=("@",)),
    Detector("phi.url", "a URL",
             re.compile(r"(?i)(?<![\w.])(?:(?:https?|s?ftp)://|www\.)[^\s<>\"',;]+"),
             "URLs of a person or their records are PHI: remove it (public resources such as github.com or "
             "doi.org are allowed, and so are URLs in *_URL columns)",
             confirm=_url_ok, applies=lambda p: not p.url_like, needs=("://", "ww.", "wW.", "Ww.", "WW.")),
    Detector("phi.ssn", "a Social Security number",
             re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])"), FIX_REMOVE, confirm=_ssn_ok,
             needs=("000-00-0000", "000 00 0000")),
    Detector("phi.ssn", "a Social Security number",
             re.compile(r"\d{9}"), FIX_REMOVE, confirm=_ssn_ok, applies=lambda p: p.ssn_like, whole_cell=True,
             needs=("000000000",)),
    Detector("phi.phone", "a phone number",
             re.compile(r"(?<![\w+.-])(?:\+?\d[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-]|\.\d)"),
             FIX_REMOVE, confirm=_us_phone_ok, needs=("000-0000", "000.0000", "000 0000")),
    Detector("phi.phone", "an international phone number",
             re.compile(r"(?<![\w+])\+\d[\d ().-]{6,20}\d(?![\w])"), FIX_REMOVE, confirm=_intl_phone_ok,
             needs=("+0",)),
    Detector("phi.phone", "a phone number",
             re.compile(r"\+?\d{10,15}"), FIX_REMOVE, confirm=_plain_phone_ok,
             applies=lambda p: p.phone_like, whole_cell=True, needs=("0000000000",)),
    Detector("phi.mrn", "a labelled medical record, account or health-plan number",
             re.compile(rf"(?i)(?<![A-Za-z]){_MRN_LABEL}(?![A-Za-z])\s*[:#=]?\s*[A-Z]{{0,3}}-?\d{{4,}}"),
             FIX_MRN, needs=("0000",)),
    Detector("phi.mrn", "a medical record number",
             re.compile(r".*\d{4,}.*"), FIX_MRN, confirm=_mrn_cell_ok, applies=lambda p: p.mrn_like,
             whole_cell=True, needs=("0000",)),
    Detector("phi.ip", "an IPv4 address",
             re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]|\.\d)"), FIX_REMOVE, confirm=_ipv4_ok,
             applies=lambda p: not p.version_like, needs=("0.0",)),
    Detector("phi.ip", "an IPv6 address",
             re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"), FIX_REMOVE,
             confirm=_ipv6_ok, needs=(":",)),
    Detector("phi.zip", "a ZIP+4 code",
             re.compile(r"(?<![\w:.-])\d{5}-\d{4}(?![\w-]|\.\d)"),
             FIX_ZIP, needs=("00000-0000",)),
    Detector("phi.zip", "a 5-digit ZIP code",
             re.compile(r"\d{5}"),
             FIX_ZIP, applies=lambda p: p.zip_like, whole_cell=True, needs=("00000",)),
    Detector("phi.zip", "a 3-digit ZIP prefix of an area under 20,000 people",
             re.compile(r"\d{3}"), "Safe Harbor requires 000 for this prefix: write 000",
             confirm=_small_zip3_ok, applies=lambda p: p.zip_like, whole_cell=True, needs=("000",)),
    Detector("phi.credit_card", "a payment card number (passes the Luhn check)",
             re.compile(r"(?<![\w.+-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)"), FIX_REMOVE, confirm=_card_ok,
             needs=("00", "0 0", "0-0")),
)
