"""The RecordSet upsert's merge: by key, in place, schema column order, nothing when nothing changed."""

from __future__ import annotations

import pandas as pd

from htan_submission.datamodel import get_component
from htan_submission.manifests import Manifest
from htan_submission.metadata.records import columns_of, manifest_rows, merge_rows, parse_csv, schema_id, to_csv

COLUMNS = ["ID", "STATUS", "AGE"]


def test_new_rows_are_appended_changed_rows_replaced_in_place_and_the_rest_left():
    current = [{"ID": "a", "STATUS": "Alive", "AGE": "1"}, {"ID": "b", "STATUS": "Alive", "AGE": "2"}]
    merged = merge_rows(COLUMNS, ("ID",), COLUMNS, current, [
        {"ID": "b", "STATUS": "Dead", "AGE": "2"}, {"ID": "c", "STATUS": "Alive"}, {"ID": "a", "STATUS": "Alive",
                                                                                   "AGE": "1"}])
    assert (merged.added, merged.updated, merged.unchanged, merged.changed) == (1, 1, 1, True)
    assert merged.rows == [{"ID": "a", "STATUS": "Alive", "AGE": "1"}, {"ID": "b", "STATUS": "Dead", "AGE": "2"},
                           {"ID": "c", "STATUS": "Alive", "AGE": ""}]


def test_the_same_rows_again_change_nothing():
    rows = [{"ID": "a", "STATUS": "Alive", "AGE": "1"}]
    header, current = parse_csv(to_csv(COLUMNS, rows))
    merged = merge_rows(COLUMNS, ("ID",), header, current, rows)
    assert (merged.added, merged.updated, merged.unchanged, merged.changed) == (0, 0, 1, False)


def test_columns_follow_the_schema_and_unknown_current_columns_are_kept():
    merged = merge_rows(COLUMNS, ("ID",), ["AGE", "OLD", "ID", "STATUS"],
                        [{"AGE": "1", "OLD": "x", "ID": "a", "STATUS": "Alive"}],
                        [{"ID": "a", "STATUS": "Dead", "AGE": "1"}])
    assert merged.header == ["ID", "STATUS", "AGE", "OLD"] and merged.header_changed
    assert merged.rows == [{"ID": "a", "STATUS": "Dead", "AGE": "1", "OLD": "x"}]
    assert to_csv(merged.header, merged.rows).decode() == "ID,STATUS,AGE,OLD\na,Dead,1,x\n"


def test_composite_keys_and_rows_without_a_key_or_repeating_one():
    therapy = get_component("Therapy")
    frame = pd.DataFrame([
        {"HTAN_PARTICIPANT_ID": "HTA200_1", "TREATMENT_TYPE": "Surgery", "AGE_IN_DAYS_AT_TREATMENT_START": "10"},
        {"HTAN_PARTICIPANT_ID": "HTA200_1", "TREATMENT_TYPE": "Surgery", "AGE_IN_DAYS_AT_TREATMENT_START": "20"},
        {"HTAN_PARTICIPANT_ID": "HTA200_1", "TREATMENT_TYPE": "Surgery", "AGE_IN_DAYS_AT_TREATMENT_START": "10"},
        {"HTAN_PARTICIPANT_ID": "HTA200_2", "TREATMENT_TYPE": None, "AGE_IN_DAYS_AT_TREATMENT_START": "5"},
    ])
    manifest = Manifest(path=None, name="Therapy.csv", component="Therapy", frame=frame)
    rows, findings = manifest_rows(manifest, therapy)
    assert [r["AGE_IN_DAYS_AT_TREATMENT_START"] for r in rows] == ["10", "20"]
    assert [(f.row, f.rule) for f in findings] == [(4, "metadata.record_key_duplicate"),
                                                   (5, "metadata.record_key_missing")]


def test_schema_id_and_columns_come_from_the_component():
    vital = get_component("VitalStatus")
    assert schema_id(vital) == f"HTAN2Organization-VitalStatus-{vital.version}" == vital.schema_id
    assert columns_of(vital) == list(vital.schema()["properties"])
