"""``htan-submit transfer`` and ``htan-submit storage register`` against moto and the emulator.

Run in-process through ``htan_submission.cli.main`` (the SIGKILL test in
``test_transfer_reliability`` runs the installed command as a real process).
"""

from __future__ import annotations

import json

import pytest

from htan_submission.cli import main
from tests.integration.test_transfer_world import make_world, md5, write_centers_file

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]


@pytest.fixture
def world(emulator, moto_s3, make_user, tmp_path, monkeypatch):
    world = make_world(emulator, moto_s3, make_user)
    centers = write_centers_file(world, tmp_path)
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(centers))
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", world.user.token)
    monkeypatch.setenv("HTAN_SYNAPSE_ENDPOINT", emulator.base_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint_url)
    return world


def _manifest(world, rows: list[tuple[str, str]], name: str = "scrna_level1.csv") -> None:
    body = "Component,FILENAME,CHECKSUM\n" + "".join(f"{c},{f},\n" for c, f in rows)
    world.s3.put_object(Bucket=world.bucket, Key=world.batch_prefix + name, Body=body.encode())


def _batch(world) -> list[str]:
    return ["transfer", "--center", world.center.center_id, "--batch", world.batch_url]


def test_dry_run_plans_reports_and_moves_nothing(world, tmp_path, capsys):
    world.put("data/a.fastq", ref=False)
    world.put("data/stray.fastq", ref=False)
    _manifest(world, [("scRNALevel1", "data/a.fastq"), ("scRNALevel1", "data/gone.fastq")])
    out = tmp_path / "plan.json"
    assert main([*_batch(world), "--dry-run", "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "1 file(s)" in printed and "transfer.missing_file" in printed and "transfer.unreferenced_file" in printed
    written = json.loads(out.read_text())
    assert written["dry_run"] is True and written["plan"]["files"] == 1
    rules = {f["rule"]: f for f in written["report"]["findings"]}
    assert rules["transfer.missing_file"]["file"] == f"{world.batch_prefix}scrna_level1.csv"
    assert rules["transfer.missing_file"]["row"] == 3
    assert world.listing("scRNA_seq/Level_1") == {}


def test_register_then_index_transfer_then_rerun(world, tmp_path, capsys):
    world.put("data/a.fastq", ref=False)
    world.put("data/b.fastq", ref=False)
    _manifest(world, [("scRNALevel1", "data/a.fastq"), ("scRNALevel1", "data/b.fastq")])
    assert main(["storage", "register", "--center", world.center.center_id]) == 0
    assert "storage location" in capsys.readouterr().out
    out = tmp_path / "run.json"
    assert main([*_batch(world), "--mode", "index", "--json", str(out)]) == 0
    assert "created 2" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["report"]["summary"]["transferred"]["created"] == 2
    entity_ids = {f["name"]: f["entity_id"] for f in result["results"][0]["files"]}
    stored = world.listing("scRNA_seq/Level_1")
    assert {n: s["entity"]["id"] for n, s in stored.items()} == entity_ids
    assert stored["a.fastq"]["handle"]["fileHandle"]["contentMd5"] == md5(world.data["data/a.fastq"])
    assert main([*_batch(world), "--mode", "index"]) == 0
    assert "skipped 2" in capsys.readouterr().out


def test_copy_is_the_default_when_the_center_says_so(world, tmp_path, capsys, monkeypatch):
    write_centers_file(world, tmp_path, transfer_mode="copy")
    world.put("data/a.fastq", ref=False)
    _manifest(world, [("scRNALevel1", "data/a.fastq")])
    assert main(_batch(world)) == 0
    stored = world.listing("scRNA_seq/Level_1")["a.fastq"]["handle"]
    assert stored["storedMd5"] == md5(world.data["data/a.fastq"])


def test_usage_and_configuration_errors_exit_2(world, capsys, monkeypatch):
    assert main(["transfer", "--center", world.center.center_id, "--batch", "not-a-url"]) == 2
    assert main(["transfer", "--center", world.center.center_id, "--batch", "s3://someone-elses/b/",
                 "--mode", "index"]) == 2
    assert "must be in" in capsys.readouterr().err
    world.put("data/a.fastq", ref=False)
    _manifest(world, [("scRNALevel1", "data/a.fastq")])
    monkeypatch.delenv("SYNAPSE_AUTH_TOKEN")
    assert main([*_batch(world), "--mode", "copy"]) == 2
    assert "SYNAPSE_AUTH_TOKEN" in capsys.readouterr().err


def test_an_unregistered_bucket_fails_with_the_fix(world, capsys):
    world.put("data/a.fastq", ref=False)
    _manifest(world, [("scRNALevel1", "data/a.fastq")])
    assert main([*_batch(world), "--mode", "index"]) == 1
    err = capsys.readouterr().err
    assert "storage register" in err and world.user.token not in err
