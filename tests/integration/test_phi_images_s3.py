"""Image header scrub in S3 (moto server, real HTTP): ranged reads only, multipart write with
server-side copies, atomic result, nothing left behind on failure.

The main sample is about 26 MB: S3's 5 MiB minimum part size means an object has to span
several parts (and its IFDs several 5 MiB windows) for the multipart path to be exercised.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from htan_submission.cli import main
from htan_submission.dev import phi_images as gen
from htan_submission.phi.images import scan_images, scan_s3_object, scrub_images, scrub_s3_object, scrub_s3_prefix

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
KEY = b"s" * 32


@pytest.fixture(scope="module")
def big_svs(tmp_path_factory) -> Path:
    path = gen.make_svs(tmp_path_factory.mktemp("s3") / "big.svs", width=2560, height=2560, tile=256)
    assert path.stat().st_size > 4 * 5 * MIB
    return path


def _locally_scrubbed(path: Path, tmp_path: Path) -> bytes:
    copy = tmp_path / f"local-{path.name}"
    shutil.copy(path, copy)
    assert scrub_images([copy], in_place=True, uid_key=KEY).errors == 0
    return copy.read_bytes()


def _keys(client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def _no_uploads_left(client, bucket: str) -> bool:
    return not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_scrub_in_place_equals_the_local_scrub_and_moves_little(moto_s3, s3_bucket, big_svs, tmp_path):
    client = moto_s3.client()
    client.upload_file(str(big_svs), s3_bucket, "batch/slide.svs",
                       ExtraArgs={"ContentType": "image/tiff", "Metadata": {"center": "HTA200"}})

    result = scrub_s3_object(client, s3_bucket, "batch/slide.svs")

    assert result.ok, [f.message for f in result.findings if f.severity == "error"]
    assert result.changed and result.format == "svs"
    body = client.get_object(Bucket=s3_bucket, Key="batch/slide.svs")["Body"].read()
    assert body == _locally_scrubbed(big_svs, tmp_path)
    assert gen.planted_found(body) == []
    assert result.bytes_transferred < 16 * MIB
    assert result.bytes_uploaded < 6 * MIB
    assert result.bytes_copied_server_side > big_svs.stat().st_size - 6 * MIB
    head = client.head_object(Bucket=s3_bucket, Key="batch/slide.svs")
    assert head["ContentType"] == "image/tiff" and head["Metadata"] == {"center": "HTA200"}
    assert _keys(client, s3_bucket) == ["batch/slide.svs"], "temporary objects are deleted"
    assert _no_uploads_left(client, s3_bucket)


def test_scan_reads_only_the_header(moto_s3, s3_bucket, big_svs):
    client = moto_s3.client()
    client.upload_file(str(big_svs), s3_bucket, "slide.svs")
    etag = client.head_object(Bucket=s3_bucket, Key="slide.svs")["ETag"]

    result = scan_s3_object(client, s3_bucket, "slide.svs")

    local = scan_images([big_svs])
    assert sorted((f.column, f.rule) for f in result.findings) == sorted((f.column, f.rule) for f in local.findings)
    assert result.bytes_downloaded < 1 * MIB
    assert client.head_object(Bucket=s3_bucket, Key="slide.svs")["ETag"] == etag


def test_small_objects_and_other_keys(moto_s3, s3_bucket, tmp_path):
    client = moto_s3.client()
    dicom = gen.make_dicom(tmp_path / "label.dcm", label=True)
    client.upload_file(str(dicom), s3_bucket, "in/label.dcm")

    result = scrub_s3_object(client, s3_bucket, "in/label.dcm", dest_key="out/label.dcm", uid_key=KEY)

    assert result.ok and result.bytes_uploaded == dicom.stat().st_size
    assert client.get_object(Bucket=s3_bucket, Key="out/label.dcm")["Body"].read() == _locally_scrubbed(dicom,
                                                                                                         tmp_path)
    assert client.get_object(Bucket=s3_bucket, Key="in/label.dcm")["Body"].read() == dicom.read_bytes()


def test_an_unreadable_object_is_reported_and_left_alone(moto_s3, s3_bucket, tmp_path):
    client = moto_s3.client()
    bad = gen.make_corrupt(tmp_path)["ifd_loop.svs"]
    client.upload_file(str(bad), s3_bucket, "bad.svs")
    etag = client.head_object(Bucket=s3_bucket, Key="bad.svs")["ETag"]

    result = scrub_s3_object(client, s3_bucket, "bad.svs")

    assert [f.rule for f in result.findings] == ["image.unreadable"]
    assert client.head_object(Bucket=s3_bucket, Key="bad.svs")["ETag"] == etag
    assert result.bytes_uploaded == 0 and _no_uploads_left(client, s3_bucket)


class _FailingComplete:
    """A boto3 client whose final CompleteMultipartUpload fails (e.g. a dropped connection)."""

    def __init__(self, client, key: str):
        self._client, self._key = client, key

    def __getattr__(self, name):
        return getattr(self._client, name)

    def complete_multipart_upload(self, **kwargs):
        if kwargs["Key"] == self._key:
            raise ConnectionError("simulated network failure")
        return self._client.complete_multipart_upload(**kwargs)


def test_a_failed_write_is_aborted_and_the_object_is_unchanged(moto_s3, s3_bucket, big_svs):
    client = moto_s3.client()
    client.upload_file(str(big_svs), s3_bucket, "slide.svs")
    etag = client.head_object(Bucket=s3_bucket, Key="slide.svs")["ETag"]

    result = scrub_s3_object(_FailingComplete(client, "slide.svs"), s3_bucket, "slide.svs")

    assert [f.rule for f in result.findings] == ["image.write_failed"]
    assert "aborted" in result.findings[0].message
    assert client.head_object(Bucket=s3_bucket, Key="slide.svs")["ETag"] == etag
    assert _keys(client, s3_bucket) == ["slide.svs"]
    assert _no_uploads_left(client, s3_bucket)


def test_scrub_a_prefix(moto_s3, s3_bucket, tmp_path):
    client = moto_s3.client()
    files = {"p/a.svs": gen.make_svs(tmp_path / "a.svs"), "p/b.ome.tif": gen.make_ome_tiff(tmp_path / "b.ome.tif"),
             "p/raw/c": gen.make_dicom(tmp_path / "c", preamble=False),
             "p/bad.svs": gen.make_corrupt(tmp_path / "bad")["jpeg_renamed.svs"]}
    for key, path in files.items():
        client.upload_file(str(path), s3_bucket, key)
    client.put_object(Bucket=s3_bucket, Key="p/manifest.csv", Body=b"HTAN_DATA_FILE_ID\nHTA200_1_D1\n")

    scan = scrub_s3_prefix(client, s3_bucket, "p/", scan_only=True)
    assert scan.extra["images"] == 3 and scan.extra["unreadable"] == 1
    assert scan.extra["bytes_uploaded"] == 0
    scrub = scrub_s3_prefix(client, s3_bucket, "p/", uid_key=KEY)
    assert scrub.extra["cleaned"] == 3
    assert {f.rule for f in scrub.findings if f.severity == "error"} == {"image.unreadable"}
    after = scrub_s3_prefix(client, s3_bucket, "p/", scan_only=True, uid_key=KEY)
    assert [f.file for f in after.findings] == [f"s3://{s3_bucket}/p/bad.svs"]
    for key in ("p/a.svs", "p/b.ome.tif", "p/raw/c"):
        assert gen.planted_found(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()) == []
    assert "p/manifest.csv" in _keys(client, s3_bucket)


def test_the_cli_takes_s3_paths(moto_s3, s3_bucket, tmp_path, monkeypatch):
    client = moto_s3.client()
    client.upload_file(str(gen.make_pyramid_tiff(tmp_path / "p.tif")), s3_bucket, "x/p.tif")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint_url)
    assert main(["scan-images", f"s3://{s3_bucket}/x/"]) == 1
    assert main(["scrub-images", f"s3://{s3_bucket}/x/", "--in-place"]) == 0
    assert main(["scan-images", f"s3://{s3_bucket}/x/"]) == 0
