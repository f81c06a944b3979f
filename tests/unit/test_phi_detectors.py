"""Identifier detectors in free text: a corpus of true and false positives per rule, checked through
the vectorised scan, and a property test that the digit-blind shape filter never changes a result."""

import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from htan_submission.phi.detectors import column_profile, luhn_ok
from htan_submission.phi.tables import ALL_DETECTORS, scan_frame, value_hits


def scanned_rules(value: str, column: str = "COMMENTS") -> set[str]:
    frame = pd.DataFrame({column: [value]}, dtype=object)
    return {f.rule for f in scan_frame(frame, "m.csv")}


TRUE_POSITIVES = [
    ("phi.email", "jane.doe@mgh.harvard.edu", "COMMENTS"),
    ("phi.email", "contact: j_doe+htan@example.org for slides", "COMMENTS"),
    ("phi.phone", "617-555-0123", "COMMENTS"),
    ("phi.phone", "call (617) 555-0123 after 5", "COMMENTS"),
    ("phi.phone", "617.555.0123", "COMMENTS"),
    ("phi.phone", "+1 617 555 0123", "COMMENTS"),
    ("phi.phone", "1-617-555-0123", "COMMENTS"),
    ("phi.phone", "+44 20 7946 0958", "COMMENTS"),
    ("phi.phone", "+4915112345678", "COMMENTS"),
    ("phi.phone", "6175550123", "CONTACT_PHONE"),
    ("phi.ssn", "123-45-6789", "COMMENTS"),
    ("phi.ssn", "SSN 123 45 6789", "COMMENTS"),
    ("phi.ssn", "123456789", "SSN"),
    ("phi.mrn", "MRN: 1234567", "COMMENTS"),
    ("phi.mrn", "MR# 12345", "COMMENTS"),
    ("phi.mrn", "mrn 00123456 (outside hospital)", "COMMENTS"),
    ("phi.mrn", "Medical Record Number: 998877", "COMMENTS"),
    ("phi.mrn", "Acct# 55512345", "COMMENTS"),
    ("phi.mrn", "A1234567", "MRN"),
    ("phi.mrn", "MRN1234567", "COMMENTS"),
    ("phi.mrn", "MRN A-123456", "COMMENTS"),
    ("phi.url", "https://patientportal.example.com/records/123", "COMMENTS"),
    ("phi.url", "see www.janedoe-family.com", "COMMENTS"),
    ("phi.url", "http://10.0.0.5/report", "COMMENTS"),
    ("phi.ip", "192.168.1.20", "COMMENTS"),
    ("phi.ip", "scanner at 10.12.0.7 logged it", "COMMENTS"),
    ("phi.ip", "2001:db8::8a2e:370:7334", "COMMENTS"),
    ("phi.ip", "fe80::1ff:fe23:4567:890a", "COMMENTS"),
    ("phi.zip", "02139-4307", "COMMENTS"),
    ("phi.zip", "Boston MA 02139-4307", "COMMENTS"),
    ("phi.zip", "02139", "ZIP_CODE"),
    ("phi.zip", "036", "POSTAL_CODE"),
    ("phi.credit_card", "4111 1111 1111 1111", "COMMENTS"),
    ("phi.credit_card", "card 4111-1111-1111-1111 on file", "COMMENTS"),
    ("phi.credit_card", "378282246310005", "COMMENTS"),
    ("phi.credit_card", "5555555555554444", "COMMENTS"),
    ("phi.credit_card", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "COMMENTS"),
]

FALSE_POSITIVES = [
    # (value, column): never any identifier finding
    ("1234567890", "COMMENTS"), ("HTA200_1234567890", "COMMENTS"), ("100-200-3000", "COMMENTS"),
    ("+1", "COMMENTS"), ("+0.5", "LOG2_FOLD_CHANGE"), ("12345678901234", "TOTAL_BASES"),
    ("chr1:1234567-1234999", "COMMENTS"), ("1,234,567", "READ_COUNT"), ("987654321", "READ_COUNT"),
    ("555-1234", "COMMENTS"), ("GRCh38.p14", "GENOMIC_REFERENCE"), ("NM_000546.6", "COMMENTS"),
    ("rs121913529", "COMMENTS"), ("123456789", "COMMENTS"), ("000-12-3456", "COMMENTS"),
    ("HTA200_123-45-6789", "COMMENTS"), ("MR imaging of the liver", "COMMENTS"), ("MRN", "COMMENTS"),
    ("Patient consented", "COMMENTS"), ("https://github.com/ncihtan/htan2-data-model", "COMMENTS"),
    ("https://doi.org/10.1038/s41586-020-2922-4", "COMMENTS"), ("www.humantumoratlas.org", "COMMENTS"),
    ("https://portal.gdc.cancer.gov/projects", "COMMENTS"),
    ("https://ftp.example-lab.org/gencode.v44.gtf", "GENOME_ANNOTATION_URL"),
    ("1.2.3", "COMMENTS"), ("v1.2.3.4", "COMMENTS"), ("2.20.0.422", "COMMENTS"),
    ("1.2.3.4", "SOFTWARE_AND_VERSION"), ("10:22:00", "COMMENTS"), ("UBERON:0002107", "ANATOMIC_SITE"),
    ("00:1A:2B:3C:4D:5E", "COMMENTS"), ("02139", "COMMENTS"), ("021", "ZIP_CODE"), ("12345-67890", "COMMENTS"),
    ("chr1:12345-6789", "COMMENTS"), ("HTA200_12345-6789", "COMMENTS"), ("4111111111111112", "COMMENTS"),
    ("1234567890123456", "COMMENTS"), ("ENSG00000141510", "GENE_ID"), ("HTA200_1_B1", "HTAN_BIOSPECIMEN_ID"),
    ("C50.911", "ICD"), ("8500/3", "MORPHOLOGY"), ("10x Genomics Visium", "ASSAY"), ("G2 Intermediate Grade", "G"),
    ("user at example dot org", "COMMENTS"), ("a@b", "COMMENTS"), ("HTA200_1@B1", "COMMENTS"), ("-1", "AGE"),
    ("3.5", "CONCENTRATION"), ("syn12345678", "SYNAPSE_ID"), ("1:1000 dilution", "COMMENTS"),
    ("Ki-67 30-40%", "COMMENTS"), ("NCIT:C12345", "COMMENTS"), ("T2a N1 M0", "STAGE"),
    ("Lipid Nanoparticle Encapsulated OX40L mRNA-2416", "THERAPEUTIC_AGENTS"), ("MRNA1234 probe", "COMMENTS"),
]


@pytest.mark.parametrize(("rule", "value", "column"), TRUE_POSITIVES)
def test_identifiers_are_found(rule, value, column):
    assert rule in scanned_rules(value, column)


@pytest.mark.parametrize(("value", "column"), FALSE_POSITIVES)
def test_htan_values_are_not_identifiers(value, column):
    assert not {r for r in scanned_rules(value, column) if r != "phi.age_over_89"}


def test_column_scoped_detectors_stay_in_their_columns():
    assert "phi.zip" not in scanned_rules("02139", "NOTES")
    assert "phi.phone" not in scanned_rules("6175550123", "NOTES")
    assert "phi.mrn" not in scanned_rules("A1234567", "NOTES")
    assert "phi.mrn" not in scanned_rules("HTA200_1234", "MRN")  # an HTAN ID in an MRN column is fine
    assert "phi.url" in scanned_rules("https://ftp.example-lab.org/x.gtf", "NOTES")


def test_every_finding_masks_the_value():
    values = [v for _, v, _ in TRUE_POSITIVES]
    frame = pd.DataFrame({"COMMENTS": values}, dtype=object)
    for finding in scan_frame(frame, "m.csv"):
        original = values[finding.row - 2]
        [shown] = {finding.message[len(d.kind) + 2: -len(d.fix) - 3] for d in ALL_DETECTORS
                   if finding.message.startswith(d.kind + " (") and finding.message.endswith("); " + d.fix)}
        assert shown[0] in original and not any(ch.isalnum() for ch in shown[1:]), finding.message


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")


def test_profiles_read_column_names():
    assert column_profile("PATIENT_ZIP").zip_like and column_profile("FaxNumber").phone_like
    assert column_profile("GENOMIC_REFERENCE_URL").url_like and column_profile("QC_WORKFLOW_VERSION").version_like
    assert not column_profile("CELL_TYPE").phone_like


def test_one_finding_per_cell_and_rule_many_rules_per_cell():
    frame = pd.DataFrame({"COMMENTS": ["a.b@x.org and c.d@y.org, 617-555-0123, seen 2019-03-04"]}, dtype=object)
    rules = sorted(f.rule for f in scan_frame(frame, "m.csv"))
    assert rules == ["phi.date", "phi.email", "phi.phone"]


def test_every_row_with_a_repeated_value_is_a_finding():
    frame = pd.DataFrame({"COMMENTS": ["MRN: 1234567", "fine", "MRN: 1234567"], "OTHER": ["x", "y", "z"]},
                         dtype=object, index=[0, 1, 5])  # index 5 = spreadsheet row 7 (blank rows dropped)
    assert [(f.row, f.column) for f in scan_frame(frame, "m.csv")] == [(2, "COMMENTS"), (7, "COMMENTS")]


# ---- the shape filter is exact --------------------------------------------------------------

PIECES = [v for _, v, _ in TRUE_POSITIVES] + [v for v, _ in FALSE_POSITIVES] + [
    "2019-03-04", "03/04/2019", "4 Mar 2019", "Mar-2019", "43528", "20190304", " ", "-", "/", ".", ":", "@",
    "+", "(", ")", "#", "MRN ", "x", "www.", "WwW.host.org", "https://", "\n",
]
COLUMNS = ["COMMENTS", "DATE_OF_BIRTH", "ZIP", "PHONE", "SSN", "MRN", "WORKFLOW_URL", "SOFTWARE_VERSION"]


def naive_rules(value: str, column: str) -> set[str]:
    """The reference: every detector run on the value itself, no uniques, no shapes."""
    flat = value.replace("\n", " ")
    profile = column_profile(column)
    return {d.rule for d in ALL_DETECTORS if d.applies(profile) and d.find(flat)}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(COLUMNS),
                          st.lists(st.one_of(st.sampled_from(PIECES), st.text("0123456789-/.: ", max_size=12)),
                                   min_size=1, max_size=4).map("".join)),
                min_size=1, max_size=12))
def test_vectorised_scan_equals_the_naive_per_value_scan(cells):
    frame = pd.DataFrame({c: [None] * len(cells) for c in COLUMNS}, dtype=object)
    for row, (column, value) in enumerate(cells):
        frame.at[row, column] = value
    hits = value_hits(frame)
    for column, value in cells:
        position = COLUMNS.index(column)
        found = {d.rule for d, _ in hits.get(position, {}).get(value, [])}
        assert found == naive_rules(value, column), (column, value)


def test_detector_patterns_never_name_a_digit():
    """The shape filter (digits -> 0) is only exact if no pattern names a specific digit."""
    for detector in ALL_DETECTORS:
        body = re.sub(r"\{\d+(,\d*)?\}", "", detector.pattern.pattern)  # {3}, {1,4} quantifiers
        body = body.replace("0-9", "")
        assert not re.search(r"(?<!\\)[0-9]", body), detector.pattern.pattern


def test_every_gate_is_a_necessary_condition_on_the_corpus():
    """A value a detector finds always contains one of the detector's ``needs`` in its shape."""
    from tests.unit.test_phi_dates import DATES_ANYWHERE, DATES_IN_DATE_COLUMNS, NOT_DATES

    corpus = PIECES + DATES_ANYWHERE + DATES_IN_DATE_COLUMNS + NOT_DATES
    found = 0
    for value in corpus:
        shape = value.translate(str.maketrans("123456789", "000000000"))
        for detector in ALL_DETECTORS:
            if detector.find(value):
                found += 1
                assert any(n in shape for n in detector.needs), (detector.kind, value)
    assert found > len(TRUE_POSITIVES)


def test_gates_use_only_gate_characters():
    """Gate keys keep only GATE_CHARS; a needle with any other character would never be found."""
    from htan_submission.phi.tables import GATE_CHARS

    for detector in ALL_DETECTORS:
        assert detector.needs and all(set(n) <= set(GATE_CHARS) for n in detector.needs), detector.kind


def test_no_value_of_any_htan_enumeration_is_phi():
    """Every permissible value of the vendored HTAN2 schemas (UBERON, ICD-10, ICD-O-3, NCIt, agents,
    genes ...: about 186,000 strings) scans clean, in a free-text column and in its own column."""
    import json

    from htan_submission.datamodel.registry import DEFAULT_DATA_MODEL_DIR

    values: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if key == "enum" and isinstance(child, list):
                    values.update(str(v) for v in child if v is not None)
                else:
                    collect(child)
        elif isinstance(node, list):
            for child in node:
                collect(child)

    for path in DEFAULT_DATA_MODEL_DIR.glob("v*/*.json"):
        collect(json.loads(path.read_text()))
    assert len(values) > 100_000
    ordered = sorted(values)
    frame = pd.DataFrame({"COMMENTS": ordered, "ANATOMIC_SITE": ordered}, dtype=object)
    assert [(ordered[f.row - 2], f.rule) for f in scan_frame(frame, "enums.csv")] == []
