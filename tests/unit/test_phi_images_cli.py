"""``htan-submit scan-images`` / ``scrub-images``: exit codes, JSON report shape, usage errors."""

from __future__ import annotations

import json

import pytest

from htan_submission.cli import main
from htan_submission.dev import phi_images as gen


@pytest.fixture
def batch(tmp_path):
    root = tmp_path / "batch"
    (root / "images").mkdir(parents=True)
    gen.make_svs(root / "images" / "a.svs")
    gen.make_dicom(root / "images" / "b.dcm")
    (root / "manifest.csv").write_text("HTAN_DATA_FILE_ID\nHTA200_1_D1\n")
    return root


def test_scan_then_scrub_then_scan(batch, tmp_path, capsys):
    scan_json, scrub_json = tmp_path / "scan.json", tmp_path / "scrub.json"

    assert main(["scan-images", str(batch), "--json", str(scan_json)]) == 1
    report = json.loads(scan_json.read_text())
    assert set(report) == {"summary", "findings"}
    assert report["summary"]["images"] == 2 and report["summary"]["errors"] > 0
    finding = report["findings"][0]
    assert set(finding) == {"severity", "component", "file", "row", "column", "rule", "message"}
    assert finding["row"] is None and finding["rule"].startswith("phi.image.")

    assert main(["scrub-images", str(batch), "--in-place", "--json", str(scrub_json)]) == 0
    scrubbed = json.loads(scrub_json.read_text())
    assert scrubbed["summary"]["errors"] == 0 and scrubbed["summary"]["cleaned"] == 2
    assert {f["severity"] for f in scrubbed["findings"]} == {"warning"}

    assert main(["scan-images", str(batch)]) == 0
    out = capsys.readouterr().out
    assert gen.planted_found((out + scan_json.read_text() + scrub_json.read_text()).encode()) == []


def test_scrub_out_writes_copies(batch, tmp_path):
    out = tmp_path / "clean"
    assert main(["scrub-images", str(batch), "--out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["images/a.svs", "images/b.dcm"]
    assert main(["scan-images", str(out)]) == 0
    assert main(["scan-images", str(batch)]) == 1, "--out must not touch the input"


def test_a_file_that_cannot_be_cleaned_exits_1(tmp_path):
    bad = gen.make_corrupt(tmp_path)["ifd_loop.svs"]
    assert main(["scrub-images", str(bad), "--in-place"]) == 1


@pytest.mark.parametrize("argv", [["scrub-images", "{p}"], ["scrub-images", "{p}", "--in-place", "--out", "x"],
                                  ["scan-images"]])
def test_usage_errors_exit_2(argv, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main([a.format(p=tmp_path) for a in argv])
    assert exit_.value.code == 2


def test_missing_paths_and_out_with_s3_are_usage_errors(tmp_path, capsys):
    assert main(["scan-images", str(tmp_path / "nope")]) == 2
    assert main(["scrub-images", "s3://bucket/prefix/", "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
