"""Manifest rows become typed Synapse annotations, and rows that cannot fit are refused up front."""

from __future__ import annotations

from htan_submission.datamodel.compiler import compile_component
from htan_submission.metadata.annotations import row_annotations


def test_types_follow_the_schema():
    compiled = compile_component("DigitalPathologyData")
    annotations, problems = row_annotations(compiled, {
        "HTAN_DATA_FILE_ID": "HTA200_1_D10", "HTAN_PARENT_ID": '"HTA200_1_B1", HTA200_1_B2',
        "NOMINAL_MAGNIFICATION": "20", "LENS_NUMERICAL_APERTURE": "0.75", "HAS_ANNOTATIONS": "FALSE",
        "Component": "DigitalPathologyData", "NOT_A_PROPERTY": "x", "QC_COMMENT": None})
    assert problems == []
    assert annotations == {
        "HTAN_DATA_FILE_ID": {"type": "STRING", "value": ["HTA200_1_D10"]},
        "HTAN_PARENT_ID": {"type": "STRING", "value": ["HTA200_1_B1", "HTA200_1_B2"]},
        "NOMINAL_MAGNIFICATION": {"type": "LONG", "value": ["20"]},
        "LENS_NUMERICAL_APERTURE": {"type": "DOUBLE", "value": ["0.75"]},
        "HAS_ANNOTATIONS": {"type": "BOOLEAN", "value": ["false"]},
    }


def test_rows_beyond_synapse_limits_are_problems_before_anything_is_written():
    compiled = compile_component("DigitalPathologyData")
    long_text = "x" * 501
    many = ", ".join(f"HTA200_1_B{i}" for i in range(101))
    _, problems = row_annotations(compiled, {"QC_COMMENT": long_text, "HTAN_PARENT_ID": many,
                                             "NOMINAL_MAGNIFICATION": "twenty"})
    assert any(p.startswith("QC_COMMENT: 501 characters") for p in problems)
    assert any(p.startswith("HTAN_PARENT_ID: 101 values") for p in problems)
    assert any(p.startswith("NOMINAL_MAGNIFICATION: the value is not integer") for p in problems)
