"""The DCC's cross-manifest rules, each shown to fire (and to stay quiet on the clean demo batch)."""

from __future__ import annotations

import csv
import shutil

import pytest

from htan_submission.dev.demo_batch import build_demo_batch
from htan_submission.validation.batch import validate_batch
from htan_submission.validation.cross_rules import SynapseContext, safe_relative


@pytest.fixture(scope="module")
def clean_batch(tmp_path_factory):
    return build_demo_batch(tmp_path_factory.mktemp("demo"), slide_size=(512, 384))


@pytest.fixture
def batch(clean_batch, tmp_path):
    root = tmp_path / "batch"
    shutil.copytree(clean_batch, root)
    return root


def edit(root, name: str, change) -> None:
    path = root / name
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    change(rows)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def cross(root, **kwargs) -> set[tuple]:
    report = validate_batch([root], **kwargs)
    return {(f.file, f.row, f.column, f.rule, f.severity) for f in report.findings}


def test_clean_demo_batch_has_no_findings(batch):
    assert cross(batch) == set()


def test_duplicate_keys_and_demographics(batch):
    edit(batch, "Demographics.csv", lambda rows: rows.append(dict(rows[0])))
    edit(batch, "BiospecimenData.csv", lambda rows: rows.append(dict(rows[1])))
    assert cross(batch) == {("Demographics.csv", 4, "HTAN_PARTICIPANT_ID", "cross.demographics_duplicate", "error"),
                            ("BiospecimenData.csv", 4, "HTAN_BIOSPECIMEN_ID", "cross.key_duplicate", "error")}


def test_data_file_id_unique_across_components_and_synapse(batch):
    edit(batch, "DigitalPathologyData.csv", lambda rows: rows[0].update(HTAN_DATA_FILE_ID="HTA200_1_D1"))
    found = cross(batch, synapse=SynapseContext(data_file_ids={"HTA200_2_D2"}))
    assert found == {("scRNALevel1.csv", 2, "HTAN_DATA_FILE_ID", "cross.data_file_id_duplicate", "error"),
                     ("scRNALevel1.csv", 5, "HTAN_DATA_FILE_ID", "cross.data_file_id_exists", "error")}


def test_participants_must_have_demographics_in_batch_or_synapse(batch):
    edit(batch, "Demographics.csv", lambda rows: rows.pop())
    assert cross(batch) == {("VitalStatus.csv", 3, "HTAN_PARTICIPANT_ID", "cross.participant_unknown", "error"),
                            ("BiospecimenData.csv", 3, "HTAN_BIOSPECIMEN_ID", "cross.participant_unknown", "error"),
                            ("BiospecimenData.csv", 3, "HTAN_PARENT_ID", "cross.parent_unresolved", "error")}
    assert cross(batch, synapse=SynapseContext(participants={"HTA200_2"})) == set()


def test_parents_resolve_by_level(batch):
    # A Level 1 FASTQ whose parent is a data file (exists, wrong kind); a slide whose parent is nobody.
    edit(batch, "scRNALevel1.csv", lambda rows: rows[1].update(HTAN_PARENT_ID="HTA200_1_D1"))
    edit(batch, "DigitalPathologyData.csv", lambda rows: rows[0].update(HTAN_PARENT_ID="HTA200_1_B7"))
    assert cross(batch) == {("scRNALevel1.csv", 3, "HTAN_PARENT_ID", "cross.parent_wrong_level", "error"),
                            ("DigitalPathologyData.csv", 2, "HTAN_PARENT_ID", "cross.parent_unresolved", "error")}


def test_files_present_safe_sized_and_of_their_format(batch):
    (batch / "scrna/HTA200_2_S1_R1.fastq.gz").write_bytes(b"tiny")
    (batch / "scrna/HTA200_2_S1_R2.fastq.gz").write_bytes(b"")

    def change(rows):
        rows[0]["FILENAME"] = "../other_batch/x.fastq.gz"
        rows[1]["FILENAME"] = "scrna/missing.fastq.gz"
        rows[1]["FILE_FORMAT"] = "fastq"

    edit(batch, "scRNALevel1.csv", change)
    assert cross(batch) == {
        ("scRNALevel1.csv", 2, "FILENAME", "cross.unsafe_filename", "error"),
        ("scRNALevel1.csv", 3, "FILENAME", "cross.file_missing", "error"),
        ("scRNALevel1.csv", 3, "FILE_FORMAT", "cross.format_mismatch", "error"),
        ("scRNALevel1.csv", 4, "FILENAME", "cross.file_small", "warning"),
        ("scRNALevel1.csv", 5, "FILENAME", "cross.file_empty", "error"),
    }


def test_severity_is_configurable_per_rule(batch):
    (batch / "scrna/HTA200_2_S1_R1.fastq.gz").write_bytes(b"tiny")
    assert cross(batch, severity={"cross.file_small": "error"}) == {
        ("scRNALevel1.csv", 4, "FILENAME", "cross.file_small", "error")}


def test_channel_metadata_required_for_multiplex_level2(batch):
    with (batch / "MultiplexMicroscopyLevel2.csv").open("w") as handle:
        handle.write("HTAN_DATA_FILE_ID,HTAN_PANEL_ID\nHTA200_1_D30,HTA200_1_P1\n")
    found = {f for f in cross(batch) if f[3].startswith("cross.")}
    assert ("MultiplexMicroscopyLevel2.csv", 2, "HTAN_PANEL_ID", "cross.channel_metadata_missing", "error") in found
    with (batch / "ChannelMetadata.csv").open("w") as handle:
        handle.write("HTAN_PANEL_ID,CHANNEL_ID,CHANNEL_NAME\nHTA200_1_P1,Channel:0:0,DAPI\n")
    assert not {f for f in cross(batch) if f[3] == "cross.channel_metadata_missing"}


@pytest.mark.parametrize(("name", "safe"), [("a/b.fastq", "a/b.fastq"), ("./a.csv", "a.csv"), ("/etc/passwd", None),
                                            ("../x", None), ("a/../../x", None), ("C:/x", None), ("a\\b", None)])
def test_safe_relative(name, safe):
    assert safe_relative(name) == safe
