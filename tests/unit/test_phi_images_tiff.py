"""Image header scrub, TIFF family: every IFD found, PHI gone, image data untouched bit for bit."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from tifffile.tifffile import svs_description_metadata

from htan_submission.dev import phi_images as gen
from htan_submission.phi.images import scan_images, scrub_images
from htan_submission.phi.images.source import FileSource
from htan_submission.phi.images.tiff_header import encode_ifd, read_layout

FORMATS = {
    "svs": (lambda p: gen.make_svs(p / "slide.svs"), {"IFD 4", "IFD 5"}),
    "svs-zlib-label": (lambda p: gen.make_svs(p / "slide.svs", label_compression="zlib"), {"IFD 4", "IFD 5"}),
    "svs-bigtiff": (lambda p: gen.make_svs(p / "slide.svs", bigtiff=True), {"IFD 4", "IFD 5"}),
    "ome-tiff": (lambda p: gen.make_ome_tiff(p / "slide.ome.tif"), {"IFD 1"}),
    "pyramid": (lambda p: gen.make_pyramid_tiff(p / "slide.tif"), {"IFD 1"}),
    "pyramid-bigtiff": (lambda p: gen.make_pyramid_tiff(p / "slide.btf", bigtiff=True), {"IFD 1"}),
    "ndpi": (lambda p: gen.make_ndpi(p / "slide.ndpi"), {"IFD 2"}),
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _open(path: Path) -> tifffile.TiffFile:
    return tifffile.TiffFile(path, is_ndpi=path.suffix == ".ndpi" or None)


@pytest.fixture(params=sorted(FORMATS))
def sample(request, tmp_path) -> tuple[str, Path, set[str]]:
    make, labels = FORMATS[request.param]
    return request.param, make(tmp_path), labels


def test_the_walker_finds_every_ifd_subifd_exif_and_gps_ifd(tmp_path):
    path = gen.make_pyramid_tiff(tmp_path / "p.tif")
    with FileSource(path) as source:
        names = [ifd.name for ifd in read_layout(source).ifds]
    assert names == ["IFD 0", "IFD 0 SubIFD 0", "IFD 0 SubIFD 1", "IFD 0 EXIF", "IFD 0 GPS", "IFD 1"]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_an_unedited_ifd_encodes_to_its_own_bytes(name, tmp_path):
    path = FORMATS[name][0](tmp_path)
    data = path.read_bytes()
    with FileSource(path) as source:
        layout = read_layout(source)
    assert layout.fmt.ndpi == (name == "ndpi")
    assert layout.fmt.bigtiff == name.endswith("bigtiff")
    for ifd in layout.ifds:
        assert encode_ifd(layout.fmt, ifd) == data[ifd.offset: ifd.end]


def test_scan_reports_every_tag_by_location_and_never_a_value(sample):
    name, path, labels = sample
    before = _sha(path)
    report = scan_images([path])
    assert _sha(path) == before, "a scan must not change the file"
    columns = {f.column for f in report.findings}
    assert report.errors == len(report.findings) > 0
    for label in labels:
        assert {f"{label} (label image)", f"{label} (macro image)"} & columns
    assert "IFD 0 DateTime (306)" in columns
    if name.startswith("pyramid") or name.startswith("ome"):
        assert "IFD 0 SubIFD 1 DateTime (306)" in columns
    if name.startswith("pyramid"):
        assert {"IFD 0 EXIF DateTimeOriginal (36867)", "IFD 0 GPS", "IFD 0 ImageDescription (270)"} <= columns
    if name.startswith("svs"):
        assert "IFD 3 ImageDescription (270) Aperio User" in columns
    if name == "ndpi":
        assert {"IFD 2 (macro image)", "IFD 3 NDPI SlideLabel (65427)",
                "IFD 1 NDPI ScannerSerialNumber (65442)"} <= columns
    text = report.to_json() + report.to_csv()
    assert gen.planted_found(text.encode()) == []


def test_scrub_in_place_removes_all_planted_phi_and_keeps_image_data_bit_for_bit(sample):
    name, path, labels = sample
    ndpi = name == "ndpi"
    size = path.stat().st_size
    hashes = gen.page_data_hashes(path, ndpi)
    assert gen.planted_found(path.read_bytes()), "the sample must carry PHI to begin with"

    report = scrub_images([path], in_place=True)

    assert report.errors == 0, [f.message for f in report.findings if f.severity == "error"]
    assert report.extra["cleaned"] == 1
    assert path.stat().st_size == size
    assert gen.planted_found(path.read_bytes()) == []
    after = gen.page_data_hashes(path, ndpi)
    kept = {k for k in hashes if k not in labels}
    assert {k: after[k] for k in kept} == {k: hashes[k] for k in kept}
    assert all(after[k] != hashes[k] for k in labels)
    with _open(path) as tf:
        for index, page in enumerate(tf.pages):
            for sub in [page, *(page.pages or [])]:
                assert 306 not in sub.tags and 315 not in sub.tags
                pixels = sub.asarray()
                if f"IFD {index}" in labels and sub.compression in (1, 8):
                    assert not pixels.any(), "a label page must be black"
    assert scan_images([path]).findings == []


def test_svs_metadata_still_parses_without_the_identifying_keys(tmp_path):
    path = gen.make_svs(tmp_path / "s.svs")
    scrub_images([path], in_place=True)
    with tifffile.TiffFile(path) as tf:
        assert tf.is_svs
        meta = svs_description_metadata(tf.pages.first.description)
        assert [s.name for s in tf.series] == ["Baseline", "Thumbnail", "Label", "Macro"]
        assert tf.pages[4].description.endswith("\r\nlabel blank")  # "label 96x64": no room for "removed"
        assert tf.pages[5].description.endswith("\r\nmacro blank")
    assert meta["Header"].startswith("Aperio Image Library")
    assert meta["AppMag"] == 20 and meta["MPP"] == pytest.approx(0.499)
    assert not {"Date", "Time", "Time Zone", "User", "ScanScope ID", "DSR ID", "Filename"} & set(meta)


def test_ome_xml_still_parses_and_keeps_its_structure(tmp_path):
    path = gen.make_ome_tiff(tmp_path / "s.ome.tif")
    scrub_images([path], in_place=True)
    with tifffile.TiffFile(path) as tf:
        assert tf.is_ome
        xml = tf.ome_metadata
        ome = tifffile.xml2dict(xml)["OME"]
        assert [s.name for s in tf.series] == ["slide", "label"]
        assert tf.series[0].shape == (512, 512, 3) and len(tf.series[0].levels) == 3
    assert "ns0:" not in xml
    assert ome["Experimenter"] == {"ID": "Experimenter:0"}
    assert "AcquisitionDate" not in ome["Image"][0]
    assert all("SerialNumber" not in str(v) for v in ome["Instrument"].values())
    annotations = ome["StructuredAnnotations"]
    assert "TimestampAnnotation" not in annotations
    assert annotations["CommentAnnotation"]["Value"] == "Focus quality good"
    assert "Annotation:0" not in xml and "Annotation:3" in xml  # the dangling ref went with it


def test_out_mode_leaves_the_input_untouched_and_writes_a_clean_copy(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "sub").mkdir()
    slide = gen.make_svs(src / "sub" / "a.svs")
    (src / "notes.csv").write_text("not,an,image\n")
    before = _sha(slide)
    out = tmp_path / "out"

    report = scrub_images([src], in_place=False, out_dir=out)

    assert report.errors == 0 and report.inputs == [str(slide)]
    assert _sha(slide) == before
    copy = out / "sub" / "a.svs"
    assert gen.planted_found(copy.read_bytes()) == []
    assert gen.page_data_hashes(copy)["IFD 0"] == gen.page_data_hashes(slide)["IFD 0"]
    assert sorted(p.name for p in out.rglob("*")) == ["a.svs", "sub"], "no temp files, no non-images"


def test_a_second_scrub_finds_nothing_and_changes_nothing(tmp_path):
    path = gen.make_pyramid_tiff(tmp_path / "p.tif")
    scrub_images([path], in_place=True)
    once = _sha(path)
    report = scrub_images([path], in_place=True)
    assert report.findings == [] and report.extra["already_clean"] == 1
    assert _sha(path) == once


def test_harmless_software_and_description_are_kept(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((32, 32), np.uint8), software="Aperio Image Library v12", description="H&E 20x",
                     metadata=None)
    assert scan_images([path]).findings == []
    report = scrub_images([path], in_place=True)
    assert report.findings == []
    with tifffile.TiffFile(path) as tf:
        assert tf.pages.first.software == "Aperio Image Library v12"
        assert tf.pages.first.description == "H&E 20x"


def test_files_are_picked_by_magic_bytes_not_by_name(tmp_path):
    disguised = tmp_path / "slide.dat"
    shutil.copy(gen.make_svs(tmp_path / "real.svs"), disguised)
    (tmp_path / "real.svs").unlink()
    (tmp_path / "readme.txt").write_text("hello")
    report = scan_images([tmp_path])
    assert report.inputs == [str(disguised)]
    assert report.extra["images"] == 1


def test_non_images_named_directly_are_skipped_not_reported(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("HTAN_DATA_FILE_ID\nHTA200_1_D1\n")
    report = scrub_images([manifest, gen.make_svs(tmp_path / "a.svs")], in_place=True)
    assert report.errors == 0 and report.extra["skipped"] == 1 and report.extra["images"] == 1
    assert manifest.read_text() == "HTAN_DATA_FILE_ID\nHTA200_1_D1\n"
