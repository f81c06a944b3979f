"""Validation also checks a batch against what earlier batches left in the center's ingest folder."""

from __future__ import annotations

import json

import pytest

from htan_submission.cli import main
from htan_submission.dev.demo_batch import build_demo_batch

pytestmark = pytest.mark.integration


def test_ids_already_in_synapse_are_found(tmp_path, syn, seeded_center, emulator, synapse_user, monkeypatch,
                                          capsys):
    from synapseclient import File

    _, seeded = seeded_center
    earlier = tmp_path / "earlier.fastq.gz"
    earlier.write_bytes(b"@r\nACGT\n+\nFFFF\n")
    syn.store(File(str(earlier), parent=seeded.folders["v1_ingest/scRNA_seq/Level_1"],
                   annotations={"HTAN_DATA_FILE_ID": "HTA200_2_D2", "HTAN_PARENT_ID": ["HTA200_3_B1"]}))
    batch = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    rows = (batch / "BiospecimenData.csv").read_text().replace("HTA200_2_B1,HTA200_2", "HTA200_2_B1,HTA200_3_B1")
    (batch / "BiospecimenData.csv").write_text(rows)  # a parent only Synapse knows
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", synapse_user.token)
    code = main(["--endpoint", emulator.base_url, "validate", str(batch), "--synapse-folder",
                 seeded.ingest_folder_id, "--json", str(tmp_path / "r.json")])
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert code == 1, capsys.readouterr()
    assert [(f["file"], f["row"], f["rule"]) for f in findings] == [
        ("scRNALevel1.csv", 5, "cross.data_file_id_exists")]
