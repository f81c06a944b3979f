"""DICOM header de-identification in place (PS3.15 Basic Profile), checked with pydicom."""

from __future__ import annotations

import hashlib

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

from htan_submission.dev import phi_images as gen
from htan_submission.phi.images import scan_images, scrub_images
from htan_submission.phi.images.dicom import BASIC_PROFILE, BASIC_PROFILE_KEYWORDS, pseudonym_uid

KEY = b"k" * 32


def _pixels(path) -> bytes:
    return pydicom.dcmread(path, force=True).PixelData


def test_every_basic_profile_keyword_is_a_dicom_keyword():
    assert len(BASIC_PROFILE) == len(BASIC_PROFILE_KEYWORDS)


@pytest.mark.parametrize("preamble", [True, False])
def test_scrub_blanks_names_dates_ids_and_replaces_uids_in_place(tmp_path, preamble):
    path = gen.make_dicom(tmp_path / "wsi.dcm", preamble=preamble)
    size, pixels = path.stat().st_size, _pixels(path)
    original = pydicom.dcmread(path, force=True)

    scan = scan_images([path], uid_key=KEY)
    columns = {f.column for f in scan.findings}
    assert {"DICOM (0010,0010) PatientName", "DICOM (0008,0020) StudyDate", "DICOM (0018,1000) DeviceSerialNumber",
            "DICOM (0010,1002)[0] > (0010,0020) PatientID", "DICOM (0009,1001) private"} <= columns
    assert gen.planted_found(scan.to_json().encode()) == []

    report = scrub_images([path], in_place=True, uid_key=KEY)

    assert report.errors == 0, [f.message for f in report.findings if f.severity == "error"]
    assert path.stat().st_size == size
    assert gen.planted_found(path.read_bytes()) == []
    ds = pydicom.dcmread(path, force=True)
    assert ds.PixelData == pixels
    assert str(ds.PatientName) == "" and ds.PatientID == "" and ds.PatientBirthDate == "" and ds.StudyDate == ""
    assert ds.InstitutionName == "" and ds.DeviceSerialNumber == "" and ds.LabelText == ""
    assert ds.OtherPatientIDsSequence[0].PatientID == ""
    assert ds.SOPClassUID == original.SOPClassUID, "registered UIDs are kept"
    assert ds.StudyInstanceUID == pseudonym_uid(original.StudyInstanceUID, KEY)
    assert len(ds.StudyInstanceUID) == len(original.StudyInstanceUID) and ds.StudyInstanceUID.startswith("2.25.")
    assert ds.Rows == original.Rows and ds.Modality == "SM"
    if preamble:
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert scan_images([path], uid_key=KEY).findings == []


def test_uid_pseudonyms_link_files_scrubbed_with_the_same_key(tmp_path):
    first = gen.make_dicom(tmp_path / "a.dcm")
    second = gen.make_dicom(tmp_path / "b.dcm", label=True)
    scrub_images([tmp_path], in_place=True, uid_key=KEY)
    a, b = pydicom.dcmread(first), pydicom.dcmread(second)
    assert a.StudyInstanceUID == b.StudyInstanceUID != gen.DICOM["StudyInstanceUID"]


@pytest.mark.parametrize("encapsulated", [False, True])
def test_label_images_are_blanked(tmp_path, encapsulated):
    path = gen.make_dicom(tmp_path / "label.dcm", label=True, encapsulated=encapsulated)
    assert gen.LABEL_TEXT.encode() in path.read_bytes()
    report = scrub_images([path], in_place=True)
    assert "DICOM (7FE0,0010) PixelData" in {f.column for f in report.findings}
    assert report.errors == 0
    data = path.read_bytes()
    assert gen.LABEL_TEXT.encode() not in data
    ds = pydicom.dcmread(path)
    if encapsulated:
        from pydicom.encaps import generate_fragments

        fragments = list(generate_fragments(ds.PixelData))
        assert len(fragments) == 3 and any(fragments[0])  # the offset table stays
        assert not any(any(f) for f in fragments[1:])
    else:
        assert not any(ds.PixelData)


def test_volume_pixels_are_untouched(tmp_path):
    path = gen.make_dicom(tmp_path / "v.dcm")
    before = hashlib.sha256(_pixels(path)).hexdigest()
    scrub_images([path], in_place=True)
    assert hashlib.sha256(_pixels(path)).hexdigest() == before


def test_deflated_dicom_is_refused_and_left_untouched(tmp_path):
    path = gen.make_dicom(tmp_path / "d.dcm")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    before = path.read_bytes()
    report = scrub_images([path], in_place=True)
    assert [f.rule for f in report.findings] == ["image.unreadable"]
    assert "deflated" in report.findings[0].message
    assert path.read_bytes() == before
