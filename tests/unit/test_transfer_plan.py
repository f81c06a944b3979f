"""The planner: S3 listing x manifest FILENAMEs -> findings and chunks, with no I/O."""

from __future__ import annotations

import hashlib
import json

import pytest

from htan_submission.layout import ingest_paths
from htan_submission.transfer.folders import COMPONENT_FOLDERS, component_folder
from htan_submission.transfer.keys import Batch, name_problem, parse_batch_url, unsafe_path
from htan_submission.transfer.plan import FileRef, Plan, build_plan
from htan_submission.transfer.refs import refs_from_rows
from htan_submission.transfer.s3 import S3Object

BATCH = Batch(bucket="bkt", prefix="batches/b1/")
MD5 = hashlib.md5(b"x").hexdigest()


def obj(relpath: str, size: int = 10, etag: str = MD5) -> S3Object:
    return S3Object(key=BATCH.key(relpath), size=size, etag=etag)


def ref(filename: str, row: int = 2, component: str = "scRNALevel1", **extra) -> FileRef:
    return FileRef(component=component, manifest="scrna.csv", row=row, filename=filename, **extra)


def plan(objects, refs, **kwargs) -> Plan:
    return build_plan(BATCH, objects, refs, ingest_folder="v1_ingest", **kwargs)


def rules(result: Plan) -> list[str]:
    return sorted(f.rule for f in result.findings)


# --- batch URLs and unsafe paths ---------------------------------------------------------------

@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://bkt/batches/b1/", "bkt", "batches/b1/"),
    ("s3://bkt/batches/b1", "bkt", "batches/b1/"),
    ("s3://bkt", "bkt", ""),
    ("s3://bkt/", "bkt", ""),
])
def test_batch_urls_normalise_to_a_trailing_slash(url, bucket, prefix):
    assert parse_batch_url(url) == Batch(bucket=bucket, prefix=prefix)


@pytest.mark.parametrize("url", ["bkt/batches", "s3:///batches", "s3://bkt/a/../b/", "https://bkt/a"])
def test_bad_batch_urls_are_refused(url):
    with pytest.raises(ValueError):
        parse_batch_url(url)


@pytest.mark.parametrize(("path", "why"), [
    ("/etc/passwd", "absolute"),
    ("\\\\server\\share\\x.fastq", "absolute"),
    ("C:\\data\\x.fastq", "absolute"),
    ("s3://other-bucket/x.fastq", "URL"),
    ("../other-batch/x.fastq", "'..'"),
    ("data/../../x.fastq", "'..'"),
    ("data\\..\\x.fastq", "'..'"),
    ("data/", "folder"),
    ("", "empty"),
    ("data/x\x00.fastq", "control"),
])
def test_unsafe_paths_say_why(path, why):
    assert why in unsafe_path(path)


@pytest.mark.parametrize("path", ["x.fastq", "data/sub/x.fastq.gz", "a..b.txt", "data/.hidden", "with space.bam"])
def test_safe_paths_pass(path):
    assert unsafe_path(path) is None


def test_entity_names_follow_synapse_rules():
    assert name_problem("HTA200_1_D1 R1 (lane+2).fastq.gz") is None
    assert name_problem("a&b.fastq") is not None
    assert name_problem("x" * 257) is not None


def test_every_component_folder_is_in_the_dcc_tree():
    assert set(COMPONENT_FOLDERS.values()) <= set(ingest_paths())
    assert component_folder("BulkWESLevel2") == "WES/Level_2"
    assert component_folder("Demographics") is None
    assert component_folder(None) is None


# --- joining listing and references ------------------------------------------------------------

def test_referenced_files_are_planned_with_target_name_and_source():
    result = plan([obj("data/a.fastq.gz")], [ref("data/a.fastq.gz", row=7)])
    assert result.findings == []
    [planned] = result.chunks[0].files
    assert planned.key == "batches/b1/data/a.fastq.gz"
    assert planned.target == "v1_ingest/scRNA_seq/Level_1"
    assert planned.name == "a.fastq.gz"
    assert planned.sources[0].manifest == "scrna.csv" and planned.sources[0].row == 7


def test_missing_and_unreferenced_files_are_findings_with_their_places():
    result = plan([obj("data/present.fastq"), obj("data/stray.fastq")],
                  [ref("data/present.fastq"), ref("data/absent.fastq", row=9)])
    missing = next(f for f in result.findings if f.rule == "transfer.missing_file")
    assert (missing.file, missing.row, missing.column, missing.severity) == ("scrna.csv", 9, "FILENAME", "error")
    assert missing.component == "scRNALevel1"
    stray = next(f for f in result.findings if f.rule == "transfer.unreferenced_file")
    assert (stray.file, stray.row, stray.column, stray.severity) == ("batches/b1/data/stray.fastq", None, None,
                                                                     "warning")
    assert result.files == 1


def test_manifests_owner_txt_and_folder_markers_are_not_unreferenced():
    objects = [obj("scrna.csv"), obj("owner.txt"), S3Object(key="batches/b1/data/", size=0, etag=MD5),
               obj("data/a.fastq")]
    result = plan(objects, [ref("data/a.fastq")], manifest_keys=["scrna.csv"])
    assert result.findings == []


def test_unsafe_filenames_and_keys_are_refused_never_resolved():
    objects = [obj("data/a.fastq"), S3Object(key="batches/b1/data/../escape.fastq", size=3, etag=MD5)]
    result = plan(objects, [ref("../b2/a.fastq"), ref("/batches/b1/data/a.fastq", row=3), ref("data/a.fastq", row=4)])
    unsafe = [f for f in result.findings if f.rule == "transfer.unsafe_key"]
    assert len(unsafe) == 3
    assert {f.file for f in unsafe} == {"scrna.csv", "batches/b1/data/../escape.fastq"}
    assert [p.key for p in result.chunks[0].files] == ["batches/b1/data/a.fastq"]


def test_objects_outside_the_prefix_are_ignored():
    result = plan([S3Object(key="batches/b2/a.fastq", size=1, etag=MD5)], [])
    assert result.findings == [] and result.chunks == []


@pytest.mark.parametrize(("the_ref", "the_obj", "rule"), [
    (ref("data/a.fastq", component="Demographics"), obj("data/a.fastq"), "transfer.no_target_folder"),
    (ref("data/a&b.fastq"), obj("data/a&b.fastq"), "transfer.invalid_name"),
    (ref("data/a.fastq"), obj("data/a.fastq", size=0), "transfer.empty_file"),
    (ref("data/a.fastq", md5="0" * 32), obj("data/a.fastq"), "transfer.md5_conflict"),
    (ref("data/a.fastq", annotations={"k": {"type": "STRING", "value": "not a list"}}), obj("data/a.fastq"),
     "transfer.bad_annotations"),
    (ref("data/a.fastq", annotations={"k": {"type": "WEIRD", "value": ["x"]}}), obj("data/a.fastq"),
     "transfer.bad_annotations"),
])
def test_files_synapse_would_refuse_are_findings_not_planned(the_ref, the_obj, rule):
    result = plan([the_obj], [the_ref])
    assert rules(result) == [rule]
    assert result.files == 0


def test_a_checksum_that_is_not_an_md5_is_a_warning_and_the_file_is_planned():
    result = plan([obj("data/a.fastq")], [ref("data/a.fastq", md5="sha256:abcdef")])
    assert rules(result) == ["transfer.checksum_not_md5"]
    assert result.findings[0].severity == "warning"
    assert result.chunks[0].files[0].md5 is None


def test_a_manifest_md5_is_carried_and_compared_only_with_single_part_etags():
    multipart = obj("data/big.bam", etag="0123456789abcdef0123456789abcdef-3")
    result = plan([obj("data/a.fastq"), multipart],
                  [ref("data/a.fastq", md5=MD5.upper()), ref("data/big.bam", row=3, component="BulkWESLevel2",
                                                              md5="f" * 32)])
    assert result.findings == []
    assert {p.name: p.md5 for c in result.chunks for p in c.files} == {"a.fastq": MD5, "big.bam": "f" * 32}


def test_one_file_referenced_twice_is_planned_once():
    result = plan([obj("data/a.fastq")], [ref("data/a.fastq", row=2), ref("data/a.fastq", row=5)])
    assert rules(result) == ["transfer.duplicate_reference"]
    assert result.findings[0].row == 5 and "row 2" in result.findings[0].message
    assert result.files == 1


def test_two_files_with_one_name_in_one_folder_clash():
    result = plan([obj("lane1/a.fastq"), obj("lane2/a.fastq")], [ref("lane1/a.fastq"), ref("lane2/a.fastq", row=3)])
    assert rules(result) == ["transfer.duplicate_target"]
    assert result.files == 1


def test_annotations_travel_with_the_planned_file():
    annotations = {"HTAN_DATA_FILE_ID": {"type": "STRING", "value": ["HTA200_1_D1"]}}
    result = plan([obj("data/a.fastq")], [ref("data/a.fastq", annotations=annotations)])
    assert result.chunks[0].files[0].annotations == annotations


# --- chunks ------------------------------------------------------------------------------------

def test_chunks_respect_the_file_count():
    objects = [obj(f"data/f{i:02d}.fastq") for i in range(10)]
    result = plan(objects, [ref(f"data/f{i:02d}.fastq", row=i + 2) for i in range(10)], max_chunk_files=4)
    assert [len(c.files) for c in result.chunks] == [4, 4, 2]
    assert [c.id for c in result.chunks] == ["chunk-0001", "chunk-0002", "chunk-0003"]


def test_chunks_respect_the_bytes_and_a_big_file_gets_a_chunk_of_its_own():
    sizes = {"a": 40, "b": 40, "c": 500, "d": 30, "e": 30}
    objects = [obj(f"data/{n}.bam", size=s) for n, s in sizes.items()]
    refs = [ref(f"data/{n}.bam", row=i + 2, component="BulkWESLevel2") for i, n in enumerate(sizes)]
    result = plan(objects, refs, max_chunk_bytes=100)
    assert [[f.name for f in c.files] for c in result.chunks] == [["a.bam", "b.bam"], ["c.bam"], ["d.bam", "e.bam"]]


def test_chunks_group_files_by_target_folder():
    objects = [obj("x/a.fastq"), obj("x/b.bam"), obj("x/c.fastq"), obj("x/d.bam")]
    refs = [ref("x/a.fastq"), ref("x/b.bam", component="BulkWESLevel2"), ref("x/c.fastq"),
            ref("x/d.bam", component="BulkWESLevel2")]
    result = plan(objects, refs, max_chunk_files=2)
    assert [{f.target for f in c.files} for c in result.chunks] == [{"v1_ingest/WES/Level_2"},
                                                                    {"v1_ingest/scRNA_seq/Level_1"}]


def test_the_plan_round_trips_through_json():
    result = plan([obj("data/a.fastq"), obj("data/stray.fastq")],
                  [ref("data/a.fastq", md5=MD5, annotations={"k": {"type": "LONG", "value": ["1"]}})])
    restored = Plan.from_dict(json.loads(json.dumps(result.to_dict())))
    assert restored.to_dict() == result.to_dict()
    assert restored.chunks[0].files[0].s3_object == obj("data/a.fastq")


def test_references_accept_tuples_and_dicts():
    result = plan([obj("a.fastq"), obj("b.fastq")],
                  [("scRNALevel1", "m.csv", 2, "a.fastq"),
                   {"component": "scRNALevel1", "manifest": "m.csv", "row": 3, "filename": "b.fastq"}])
    assert result.files == 2 and result.findings == []


def test_rows_become_references_numbered_like_a_spreadsheet():
    rows = [{"Component": "scRNALevel1", "FILENAME": "a.fastq", "CHECKSUM": MD5},
            {"Component": "scRNALevel1", "FILENAME": None},
            {"Component": "scRNALevel1", "FILENAME": " b.fastq "}]
    refs = refs_from_rows("m.csv", None, rows)
    assert [(r.row, r.filename, r.md5, r.component) for r in refs] == [(2, "a.fastq", MD5, "scRNALevel1"),
                                                                       (4, "b.fastq", None, "scRNALevel1")]
