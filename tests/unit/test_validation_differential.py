"""The validator matches the reference (cell convention + jsonschema Draft7Validator) cell for cell,
for every component in the snapshot, on valid rows and on rows with every kind of planted fault."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from htan_submission.datamodel import component_names
from htan_submission.datamodel.compiler import compile_component
from htan_submission.dev.manifest_strategies import FAULT_KINDS, fault_kinds, faulty_row, valid_row
from htan_submission.validation.reference import reference_cells
from htan_submission.validation.schema_checks import failing_cells

COMPONENTS = component_names()
# Pandera costs ~0.3 s per call on a wide component whatever the rows, so each example packs
# many rows (one per fault kind, then valid ones) into one frame rather than many small examples.
SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.filter_too_much])


@pytest.mark.parametrize("name", COMPONENTS)
def test_validator_matches_jsonschema_cell_for_cell(name):
    compiled = compile_component(name)
    kinds = fault_kinds(compiled)
    assert kinds, f"{name} offers no fault to plant"

    @SETTINGS
    @given(st.data())
    def check(data):
        faulty = [data.draw(faulty_row(compiled, kind)) for kind in kinds]
        valid = data.draw(st.lists(valid_row(compiled), min_size=1, max_size=4))
        df = pd.DataFrame(faulty + valid, columns=list(compiled.properties), dtype=object)
        ours = set(failing_cells(compiled, df))
        reference = reference_cells(compiled, df)
        assert ours == reference, f"only ours: {sorted(ours - reference)}; only reference: {sorted(reference - ours)}"
        assert not {row for row, _, _ in ours if row >= len(faulty) + 2}, "a valid row got a finding"
        for offset, kind in enumerate(kinds):
            if kind != "if_then":  # an if/then fault shows only when its condition holds in that row
                assert any(row == offset + 2 for row, _, _ in ours), f"planted {kind} fault not found"

    check()


def test_every_fault_kind_is_planted_somewhere():
    planted = {kind for name in COMPONENTS for kind in fault_kinds(compile_component(name))}
    assert planted == set(FAULT_KINDS)


def test_if_then_faults_are_found_when_their_condition_holds():
    compiled = compile_component("VitalStatus")
    df = pd.DataFrame([{"HTAN_PARTICIPANT_ID": "HTA200_1", "VITAL_STATUS": "Dead",
                        "AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS": "100"},
                       {"HTAN_PARTICIPANT_ID": "HTA200_2", "VITAL_STATUS": "Alive",
                        "AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS": "100"}], dtype=object)
    cells = set(failing_cells(compiled, df))
    assert cells == reference_cells(compiled, df)
    assert {(2, "CAUSE_OF_DEATH", "schema.if_then"), (2, "AGE_IN_DAYS_AT_DEATH", "schema.if_then"),
            (2, "CAUSE_OF_DEATH_SOURCE", "schema.if_then")} == cells
