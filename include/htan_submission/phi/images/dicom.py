"""DICOM header de-identification in place, after PS3.15 Annex E's Basic Profile.

What we do per attribute (same-length overwrites, so the pixel data never moves):
- dates, times, person names (VR DA, DT, TM, PN), the profile's identifying attributes
  (``BASIC_PROFILE``: IDs, institution, device serial, station, descriptions, label text,
  barcode, ...) and every private data element: value blanked (spaces for text VRs, NULs for
  UIDs, zeros for binary), recursively through sequences;
- instance UIDs (any UI value that is not a registered DICOM UID and not already of the random
  ``2.25.`` form): replaced by a pseudonym of the same length, ``2.25.<HMAC digits>``, stable for
  one key so the study/series links between files survive (pass the same ``uid_key`` for a whole
  batch; UIDs often embed a device root and a timestamp);
- label and overview images (ImageType LABEL/OVERVIEW, or SpecimenLabelInImage YES): pixel data
  overwritten with zeros (every fragment, for encapsulated data).
The profile would also *remove* attributes and add PatientIdentityRemoved/De-identification
Method; both change the file's length, which we never do here (see ``left_undone`` in the report).

Why our own element walker rather than only pydicom: pydicom reads the header well but gives
value offsets only for top-level elements (relative ones inside sequences, none for file meta),
and writing back with pydicom rewrites the whole file including gigabytes of pixel data. We need
the absolute offset of every value to overwrite it in place (and over S3 ranged reads). pydicom
still supplies the data dictionary (VRs for implicit syntax, keywords), the UID registry, and
is the reference reader in tests; preamble-less files are confirmed with ``dcmread(force=True)``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.uid import UID

from htan_submission.findings import mask_value
from htan_submission.phi.images.patches import Item, Patch, Plan, merge_patches
from htan_submission.phi.images.source import ByteSource, SourceFile, UnreadableImage, read_exact

VALID_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB", b"OD",
             b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
             b"UL", b"UN", b"UR", b"US", b"UT", b"UV"}
LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA, IMAGE_TYPE, TRANSFER_SYNTAX = 0x7FE00010, 0x00080008, 0x00020010
SPECIMEN_LABEL_IN_IMAGE, MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00480010, 0x00020003
UNDEFINED = 0xFFFFFFFF
IMPLICIT_LE, EXPLICIT_BE, DEFLATED = "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"
MAX_DEPTH, MAX_ELEMENTS, VALUE_READ_LIMIT = 16, 1_000_000, 64 * 1024
RUN_UID_KEY = os.urandom(32)  # one key per process unless the caller passes one

# PS3.15 Table E.1-1, Basic Profile: attributes whose action is X, Z or D (dates, times and
# person names are caught by VR; UIDs by the UID rule). Sequences here are blanked throughout.
BASIC_PROFILE_KEYWORDS = (
    "AccessionNumber", "AcquisitionComments", "AcquisitionDeviceProcessingDescription",
    "ActualHumanPerformersSequence", "AdditionalPatientHistory", "AdmissionID", "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription", "Allergies", "AuthorObserverSequence", "BarcodeValue", "BranchOfService",
    "CassetteID", "CommentsOnThePerformedProcedureStep", "ConfidentialityConstraintOnPatientDataDescription",
    "ConsultingPhysicianIdentificationSequence", "ContainerComponentID", "ContainerDescription",
    "ContainerIdentifier", "ContentCreatorIdentificationCodeSequence", "ContributionDescription",
    "CountryOfResidence", "CurrentPatientLocation", "CustodialOrganizationSequence", "DataSetTrailingPadding",
    "DerivationDescription", "DetectorID", "DeviceDescription", "DeviceSerialNumber", "DigitalSignaturesSequence",
    "DischargeDiagnosisDescription", "DistributionAddress", "EthnicGroup", "FillerOrderNumberImagingServiceRequest",
    "FrameComments", "GantryID", "GeneratorID", "HumanPerformerOrganization", "IconImageSequence",
    "IdentifyingComments", "ImageComments", "ImagePresentationComments", "ImagingServiceRequestComments",
    "InstitutionAddress", "InstitutionCodeSequence", "InstitutionName", "InstitutionalDepartmentName",
    "InsurancePlanIdentification", "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence", "InterpretationDiagnosisDescription", "InterpretationIDIssuer",
    "InterpretationText", "IssuerOfAdmissionID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
    "IssuerOfServiceEpisodeID", "IssuerOfTheContainerIdentifierSequence", "IssuerOfTheSpecimenIdentifierSequence",
    "AlternateContainerIdentifierSequence", "LabelText", "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank",
    "ModifiedAttributesSequence", "ModifyingDeviceID", "ModifyingDeviceManufacturer", "Occupation",
    "OperatorIdentificationSequence", "OriginalAttributesSequence", "OrderCallbackPhoneNumber",
    "OrderEntererLocation", "OtherPatientIDs", "OtherPatientIDsSequence", "ParticipantSequence", "PatientAddress",
    "PatientAge", "PatientComments", "PatientID", "PatientInstitutionResidence", "PatientInsurancePlanCodeSequence",
    "PatientPrimaryLanguageCodeSequence", "PatientPrimaryLanguageModifierCodeSequence", "PatientReligiousPreference",
    "PatientSex", "PatientSexNeutered", "PatientSize", "PatientState", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "PatientTransportArrangements", "PatientWeight", "PerformedLocation",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID", "PerformedStationAETitle",
    "PerformedStationGeographicLocationCodeSequence", "PerformedStationName", "PerformedStationNameCodeSequence",
    "PerformingPhysicianIdentificationSequence", "PersonAddress", "PersonIdentificationCodeSequence",
    "PersonTelephoneNumbers", "PhysiciansReadingStudyIdentificationSequence",
    "PhysiciansOfRecordIdentificationSequence", "PlacerOrderNumberImagingServiceRequest", "PlateID", "PreMedication",
    "PregnancyStatus", "ProtocolName", "ReasonForTheImagingServiceRequest", "ReasonForStudy",
    "ReferencedDigitalSignatureSequence", "ReferencedPatientAliasSequence", "ReferencedPatientPhotoSequence",
    "ReferencedPatientSequence", "ReferencedSOPInstanceMACSequence", "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence", "ReferringPhysicianTelephoneNumbers", "RegionOfResidence",
    "RequestAttributesSequence", "RequestedContrastAgent", "RequestedProcedureComments",
    "RequestedProcedureDescription", "RequestedProcedureID", "RequestedProcedureLocation", "RequestingService",
    "ResponsibleOrganization", "ResponsiblePersonRole", "ResultsComments", "ResultsDistributionListSequence",
    "ResultsIDIssuer", "ScheduledHumanPerformersSequence", "ScheduledPatientInstitutionResidence",
    "ScheduledPerformingPhysicianIdentificationSequence", "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepLocation", "ScheduledStationAETitle", "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStationName", "ScheduledStationNameCodeSequence", "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle", "SeriesDescription", "ServiceEpisodeDescription", "ServiceEpisodeID",
    "SmokingStatus", "SpecialNeeds", "SpecimenAccessionNumber", "SpecimenDetailedDescription", "SpecimenIdentifier",
    "SpecimenShortDescription", "StationName", "StorageMediaFileSetID", "StudyComments", "StudyDescription",
    "StudyID", "StudyIDIssuer", "TextComments", "TextString", "TimezoneOffsetFromUTC", "TopicAuthor", "TopicKeywords",
    "TopicSubject", "TopicTitle", "VerifyingObserverIdentificationCodeSequence", "VerifyingObserverSequence",
    "VerifyingOrganization", "VisitComments",
)
BASIC_PROFILE = {tag_for_keyword(k): k for k in BASIC_PROFILE_KEYWORDS if tag_for_keyword(k) is not None}
VR_RULES = {"DA": ("phi.image.datetime", "a date"), "DT": ("phi.image.datetime", "a date/time"),
            "TM": ("phi.image.datetime", "a time"), "PN": ("phi.image.name", "a person's name")}


@dataclass(frozen=True)
class Element:
    tag: int
    vr: str
    value_offset: int
    length: int
    location: str  # "(0010,1002)[0] > (0010,0020)"
    blank_all: bool  # inside a private or profile-listed sequence: every value goes


@dataclass
class DicomLayout:
    little: bool
    explicit: bool
    transfer_syntax: str
    elements: list[Element] = field(default_factory=list)
    pixel: Element | None = None


def sniff_dicom(head: bytes) -> str | None:
    """``dicom`` for ``DICM`` at 128, ``dicom-nopreamble`` for a plausible first element of
    group 0002 or 0008 at byte 0 (to be confirmed by pydicom), else None."""
    if head[128:132] == b"DICM":
        return "dicom"
    if len(head) >= 8:
        group, _element = struct.unpack("<HH", head[:4])
        if group in (0x0002, 0x0008) and (head[4:6] in VALID_VRS or struct.unpack("<I", head[4:8])[0] < 1 << 24):
            return "dicom-nopreamble"
    return None


def confirm_with_pydicom(source: ByteSource) -> bool:
    """A preamble-less candidate is DICOM if pydicom, forced, reads it into a dataset."""
    import pydicom

    try:
        dataset = pydicom.dcmread(SourceFile(source), force=True, stop_before_pixels=True, defer_size=1024)
        tags = list(dataset.keys())
        return any(tag.group >= 0x0008 for tag in tags)
    except Exception:  # anything pydicom cannot read is simply "not DICOM"
        return False


def read_layout(source: ByteSource) -> DicomLayout:
    return _Walker(source).run()


class _Walker:
    """File meta (explicit little endian), then the dataset in its transfer syntax, through every
    sequence and item (defined or undefined length), stopping at the top-level PixelData. Every
    length is checked against the file size before anything is read."""

    def __init__(self, source: ByteSource):
        self.source = source
        self.size = source.size

    def run(self) -> DicomLayout:
        pos = 132 if self.size >= 132 and self.source.read(128, 4) == b"DICM" else 0
        meta = DicomLayout(little=True, explicit=True, transfer_syntax="")
        while pos + 8 <= self.size and struct.unpack("<H", self.source.read(pos, 2))[0] == 0x0002:
            pos = self._element(meta, pos, "", False, 0, stop_at_pixels=False)
        ts = next((self._uid_value(e) for e in meta.elements if e.tag == TRANSFER_SYNTAX), "")
        if ts == DEFLATED:
            raise UnreadableImage("deflated DICOM (transfer syntax 1.2.840.10008.1.2.1.99) cannot be edited in place")
        if ts:
            little, explicit = ts != EXPLICIT_BE, ts != IMPLICIT_LE
        else:  # no file meta: look at the first element
            head = self.source.read(pos, 6)
            little, explicit = True, head[4:6] in VALID_VRS
        layout = DicomLayout(little=little, explicit=explicit, transfer_syntax=ts, elements=list(meta.elements))
        while pos + 8 <= self.size:
            pos = self._element(layout, pos, "", False, 0, stop_at_pixels=True)
            if layout.pixel is not None:
                break
        return layout

    def _uid_value(self, element: Element) -> str:
        data = read_exact(self.source, element.value_offset, min(element.length, 256), "transfer syntax")
        return data.rstrip(b"\x00 ").decode("ascii", "replace")

    def _header(self, layout: DicomLayout, pos: int) -> tuple[int, str, int, int]:
        """(tag, vr, length, value offset) of the element at ``pos``."""
        bo = "<" if layout.little else ">"
        head = read_exact(self.source, pos, 8, "a DICOM element header")
        group, elem = struct.unpack(bo + "HH", head[:4])
        tag = group << 16 | elem
        if tag in (ITEM, ITEM_END, SEQUENCE_END):
            return tag, "", struct.unpack(bo + "I", head[4:8])[0], pos + 8
        if layout.explicit and head[4:6] in VALID_VRS:
            vr = head[4:6].decode()
            if vr in LONG_VRS:
                length = struct.unpack(bo + "I", read_exact(self.source, pos + 8, 4, "a DICOM element header"))[0]
                return tag, vr, length, pos + 12
            return tag, vr, struct.unpack(bo + "H", head[6:8])[0], pos + 8
        if layout.explicit:
            raise UnreadableImage(f"DICOM element {_tag(tag)} has an invalid VR")
        return tag, _dictionary_vr(tag), struct.unpack(bo + "I", head[4:8])[0], pos + 8

    def _element(self, layout: DicomLayout, pos: int, parent: str, blank_all: bool, depth: int,
                 stop_at_pixels: bool) -> int:
        if len(layout.elements) > MAX_ELEMENTS:
            raise UnreadableImage("more DICOM elements than we inspect; the file is damaged")
        tag, vr, length, value = self._header(layout, pos)
        if tag in (ITEM, ITEM_END, SEQUENCE_END):
            raise UnreadableImage(f"DICOM item delimiter out of place at {_tag(tag)}")
        location = f"{parent} > {_tag(tag)}" if parent else _tag(tag)
        if tag == PIXEL_DATA and depth == 0 and stop_at_pixels:
            layout.pixel = Element(tag, vr, value, length, location, False)
            return self.size
        is_sequence = vr == "SQ" or (vr == "UN" and length == UNDEFINED)
        if is_sequence:
            inner_blank = blank_all or _is_private(tag) or tag in BASIC_PROFILE
            return self._sequence(layout, value, length, location, inner_blank, depth + 1)
        if length == UNDEFINED:
            raise UnreadableImage(f"DICOM element {_tag(tag)} has an undefined length")
        if value + length > self.size:
            raise UnreadableImage(f"DICOM element {_tag(tag)} declares {length} bytes, past the end of the file")
        layout.elements.append(Element(tag, vr, value, length, location, blank_all))
        return value + length

    def _sequence(self, layout: DicomLayout, pos: int, length: int, location: str, blank_all: bool,
                  depth: int) -> int:
        if depth > MAX_DEPTH:
            raise UnreadableImage("DICOM sequences nest deeper than we inspect")
        end = None if length == UNDEFINED else pos + length
        if end is not None and end > self.size:
            raise UnreadableImage(f"DICOM sequence {location} points past the end of the file")
        index = 0
        while end is None or pos < end:
            tag, _vr, item_length, item_value = self._header(layout, pos)
            if tag == SEQUENCE_END:
                return item_value
            if tag != ITEM:
                raise UnreadableImage(f"DICOM sequence {location} holds something that is not an item")
            item_end = None if item_length == UNDEFINED else item_value + item_length
            pos = item_value
            prefix = f"{location}[{index}]"
            while item_end is None or pos < item_end:
                if pos + 8 > self.size:
                    raise UnreadableImage(f"DICOM sequence {location} is truncated")
                peek = self._header(layout, pos)
                if peek[0] == ITEM_END:
                    pos = peek[3]
                    break
                pos = self._element(layout, pos, prefix, blank_all, depth, stop_at_pixels=False)
            index += 1
            if pos + 8 > self.size and end is None:
                raise UnreadableImage(f"DICOM sequence {location} is truncated")
        return pos


def _dictionary_vr(tag: int) -> str:
    if _is_private(tag):
        return "UN"
    try:
        return dictionary_VR(tag).split(" ")[0]
    except KeyError:
        return "UN"


def _is_private(tag: int) -> bool:
    return bool((tag >> 16) & 1) and (tag & 0xFFFF) >= 0x0100


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def pseudonym_uid(uid: str, key: bytes) -> str:
    """A UID of the same length as ``uid``: ``2.25.`` + decimal digits of an HMAC of it."""
    digits = str(int.from_bytes(hmac.new(key, uid.encode(), hashlib.sha256).digest(), "big"))
    digits = (digits * 3)[:64]
    return ("2.25." + digits)[: len(uid)]


def plan_dicom(source: ByteSource, uid_key: bytes | None = None) -> Plan:
    layout = read_layout(source)
    plan = Plan(format="dicom")
    key = uid_key or RUN_UID_KEY
    label = False
    for element in layout.elements:
        head = read_exact(source, element.value_offset, min(element.length, VALUE_READ_LIMIT),
                          f"DICOM element {_tag(element.tag)}")
        if element.tag == IMAGE_TYPE:
            label |= bool({"LABEL", "OVERVIEW"} & set(head.decode("ascii", "replace").strip().upper().split("\\")))
        if element.tag == SPECIMEN_LABEL_IN_IMAGE and head.strip() == b"YES":
            label = True
        _plan_element(plan, element, head, key)
    if label and layout.pixel is not None:
        _blank_pixels(source, layout, plan)
    plan.patches = merge_patches(plan.patches, source.size, [])
    return plan


def _plan_element(plan: Plan, element: Element, head: bytes, key: bytes) -> None:
    """``head`` is the value, or its first ``VALUE_READ_LIMIT`` bytes for a long one (we blank
    values whole, so a blank head means we have been here)."""
    if element.length == 0 or (element.tag & 0xFFFF) == 0:
        return
    if element.tag >> 16 == 0x0002 and element.tag != MEDIA_STORAGE_SOP_INSTANCE_UID:
        return  # file meta: only the instance UID there is about this image
    if not head.strip(b"\x00 "):
        return  # already empty
    keyword = keyword_for_tag(element.tag) or ("private" if _is_private(element.tag) else "unknown")
    where = f"DICOM {element.location} {keyword}"
    blank = bytes(element.length) if element.vr not in TEXT_VRS else b" " * element.length
    if element.blank_all or _is_private(element.tag) or element.tag in BASIC_PROFILE:
        rule, what = _profile_rule(element, keyword)
        plan.add(Item(where, rule, what, "blanked the value in place"), Patch(element.value_offset, blank))
    elif element.vr in VR_RULES:
        rule, what = VR_RULES[element.vr]
        sample = mask_value(head.decode("ascii", "replace").strip()) if rule.endswith("datetime") else None
        plan.add(Item(where, rule, what, "blanked the value in place", sample), Patch(element.value_offset, blank))
    elif element.vr == "UI" and element.length <= VALUE_READ_LIMIT:
        uid = head.rstrip(b"\x00 ").decode("ascii", "replace")
        if UID(uid).type:  # a registered DICOM UID (SOP class, transfer syntax): not about anyone
            return
        if uid.startswith("2.25.") or len(uid) < 6:
            return  # UUID-derived UIDs (ours included) are random by construction; tiny ones carry nothing
        new = pseudonym_uid(uid, key).encode() + b"\x00" * (element.length - len(uid))
        plan.add(Item(where, "phi.image.uid", "an instance UID", "replaced it with a same-length pseudonym"),
                 Patch(element.value_offset, new))


def _profile_rule(element: Element, keyword: str) -> tuple[str, str]:
    """A rule and a plain description for an attribute the Basic Profile removes."""
    if _is_private(element.tag):
        return "phi.image.private", "a private (vendor) attribute, which the Basic Profile removes"
    if element.vr in VR_RULES:
        return VR_RULES[element.vr]
    for needle, rule in (("Serial", "phi.image.serial"), ("Institution", "phi.image.institution"),
                         ("Label", "phi.image.label"), ("Barcode", "phi.image.label"), ("ID", "phi.image.identifier"),
                         ("Identifier", "phi.image.identifier"), ("Number", "phi.image.identifier")):
        if needle in keyword:
            return rule, f"{keyword}, which the Basic Profile removes"
    return "phi.image.dicom", f"{keyword or 'an attribute'}, which the Basic Profile removes"


def _pixel_segments(source: ByteSource, layout: DicomLayout) -> list[tuple[int, int]]:
    """(start, end) of the pixel bytes: the whole value, or each fragment after the offset table."""
    pixel = layout.pixel
    assert pixel is not None
    if pixel.length != UNDEFINED:
        if pixel.value_offset + pixel.length > source.size:
            raise UnreadableImage("DICOM pixel data points past the end of the file")
        return [(pixel.value_offset, pixel.value_offset + pixel.length)]
    bo = "<" if layout.little else ">"
    pos, index, segments = pixel.value_offset, 0, []
    while True:
        group, elem, length = struct.unpack(bo + "HHI", read_exact(source, pos, 8, "a DICOM pixel data fragment"))
        tag = group << 16 | elem
        if tag == SEQUENCE_END:
            return segments
        if tag != ITEM or length == UNDEFINED or pos + 8 + length > source.size:
            raise UnreadableImage("DICOM encapsulated pixel data is damaged")
        if index > 0 and length:  # fragment 0 is the basic offset table
            segments.append((pos + 8, pos + 8 + length))
        pos, index = pos + 8 + length, index + 1


def _blank_pixels(source: ByteSource, layout: DicomLayout, plan: Plan) -> None:
    segments = _pixel_segments(source, layout)
    if all(not source.read(start, min(end - start, 4096)).strip(b"\x00") for start, end in segments):
        return  # blanked already (we always zero whole segments, so a zero head is enough)
    for start, end in segments:
        plan.patches.append(Patch(start, bytes(end - start)))
    plan.items.append(Item("DICOM (7FE0,0010) PixelData", "phi.image.label",
                           "a label or overview image (a picture of the slide label)",
                           "overwrote its pixel data with zeros; it no longer decodes if it was compressed"))
