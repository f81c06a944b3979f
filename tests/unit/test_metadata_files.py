"""FileRefs with annotations from manifests; rows that cannot fit become findings and no ref."""

from __future__ import annotations

import pandas as pd

from htan_submission.manifests import Manifest
from htan_submission.metadata.files import file_refs_with_annotations, same_annotations

ROW = {"HTAN_DATA_FILE_ID": "HTA200_1_D10", "HTAN_PARENT_ID": "HTA200_1_B1", "FILENAME": "pathology/a.svs",
       "NOMINAL_MAGNIFICATION": "20", "PASSED_QC": "true", "Component": "DigitalPathologyData"}


def _manifest(name: str, component: str, rows: list[dict]) -> Manifest:
    return Manifest(path=None, name=name, component=component, frame=pd.DataFrame(rows))


def test_file_rows_become_refs_with_typed_annotations_and_record_manifests_none():
    too_long = {**ROW, "FILENAME": "pathology/b.svs", "QC_COMMENT": "x" * 501}
    refs, findings = file_refs_with_annotations([
        _manifest("DigitalPathologyData.csv", "DigitalPathologyData", [ROW, too_long]),
        _manifest("VitalStatus.csv", "VitalStatus", [{"HTAN_PARTICIPANT_ID": "HTA200_1"}]),
        _manifest("unknown.csv", None, [ROW]),
    ])
    [ref] = refs
    assert (ref.component, ref.manifest, ref.row, ref.filename) == ("DigitalPathologyData",
                                                                    "DigitalPathologyData.csv", 2, "pathology/a.svs")
    assert ref.annotations["NOMINAL_MAGNIFICATION"] == {"type": "LONG", "value": ["20"]}
    assert ref.annotations["PASSED_QC"] == {"type": "BOOLEAN", "value": ["true"]}
    assert "Component" not in ref.annotations
    [finding] = findings
    assert (finding.rule, finding.row, finding.column) == ("metadata.annotation_limit", 3, "QC_COMMENT")


def test_same_annotations_compares_values_and_types():
    sent = {"A": {"type": "LONG", "value": ["1"]}}
    assert same_annotations({"A": {"type": "LONG", "value": ["1"]}}, sent)
    assert not same_annotations({"A": {"type": "STRING", "value": ["1"]}}, sent)
    assert not same_annotations({"A": {"type": "LONG", "value": ["2"]}}, sent)
    assert not same_annotations({}, sent)
