"""Bad input: a clear finding, the file left exactly as it was, never a crash or a half-written file."""

from __future__ import annotations

import functools
import hashlib
import struct
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from htan_submission.dev import phi_images as gen
from htan_submission.phi.images import scan_images, scrub_images

REASONS = {
    "truncated.svs": "IFD 1 points past the end of the file",
    "ifd_loop.svs": "loops back to an earlier IFD",
    "offset_past_eof.tif": "ImageDescription (270) points past the end of the file",
    "huge_description.svs": "declares 2147483648 bytes, past the end of the file",
    "zero_byte.svs": "the file is empty",
    "jpeg_renamed.svs": "not a TIFF or DICOM file",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def corrupt(tmp_path) -> dict[str, Path]:
    return gen.make_corrupt(tmp_path / "bad")


@pytest.mark.parametrize("name", sorted(REASONS))
def test_bad_files_are_reported_and_left_untouched(corrupt, tmp_path, name):
    path = corrupt[name]
    before = _sha(path)
    for report in (scan_images([path]), scrub_images([path], in_place=True),
                   scrub_images([path], in_place=False, out_dir=tmp_path / "out")):
        assert [(f.rule, f.severity) for f in report.findings] == [("image.unreadable", "error")]
        assert REASONS[name] in report.findings[0].message
        assert "left untouched" in report.findings[0].message
    assert _sha(path) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_files_found_in_a_directory_are_reported_too(corrupt):
    report = scan_images([corrupt["zero_byte.svs"].parent])
    assert sorted(Path(f.file).name for f in report.findings) == sorted(REASONS)
    assert report.extra["unreadable"] == len(REASONS)


def test_a_2_gb_description_is_never_allocated(corrupt):
    tracemalloc.start()
    try:
        report = scan_images([corrupt["huge_description.svs"]])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.findings[0].rule == "image.unreadable"
    assert peak < 32 * 1024 * 1024


def test_a_description_over_the_inspection_limit_inside_the_file_is_refused(tmp_path, monkeypatch):
    from htan_submission.phi.images import tiff_scrub

    path = gen.make_svs(tmp_path / "s.svs")
    monkeypatch.setattr(tiff_scrub, "TEXT_LIMIT", 64)
    before = _sha(path)
    report = scrub_images([path], in_place=True)
    assert "more than we inspect" in report.findings[0].message
    assert _sha(path) == before


def test_a_label_pointing_into_another_page_is_refused(tmp_path):
    """If the label's strips overlap a value we keep (here the base level's tile offsets),
    blanking them would break the slide: the whole file is refused instead."""
    import tifffile

    path = gen.make_svs(tmp_path / "s.svs")
    with tifffile.TiffFile(path) as tf:
        label = tf.pages[4]
        offsets, counts = label.tags["StripOffsets"], label.tags["StripByteCounts"]
        target = tf.pages[0].tags["TileOffsets"].valueoffset
    data = bytearray(path.read_bytes())
    for i in range(offsets.count):
        struct.pack_into("<I", data, offsets.valueoffset + 4 * i, target)
        struct.pack_into("<I", data, counts.valueoffset + 4 * i, 8)
    path.write_bytes(bytes(data))
    report = scrub_images([path], in_place=True)
    assert [f.rule for f in report.findings] == ["image.unreadable"]
    assert "would overwrite image data or a kept tag value" in report.findings[0].message
    assert path.read_bytes() == bytes(data)


@functools.cache
def _small_svs() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return gen.make_svs(Path(tmp) / "s.svs", width=256, height=256, tile=128, levels=2).read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_headers_are_either_cleaned_or_left_untouched(flips):
    data = bytearray(_small_svs())
    for position, value in flips:
        data[position] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.svs"
        path.write_bytes(bytes(data))
        report = scrub_images([path], in_place=True)
        rules = {f.rule for f in report.findings}
        assert "image.error" not in rules, "an unexpected exception: the walker missed a bounds check"
        if report.errors:
            assert rules & {"image.unreadable"}, rules
            assert path.read_bytes() == bytes(data), "a refused file must be left byte for byte"
        else:
            assert scan_images([path]).errors == 0
            assert len(path.read_bytes()) == len(data)
