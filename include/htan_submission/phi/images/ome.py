"""OME-XML (the first ImageDescription of an OME-TIFF): remove who, when and which device.

Removed: ``Image/AcquisitionDate``; the Experimenter's FirstName, MiddleName, LastName, Email,
Institution and UserName (its ID stays, so ExperimenterRefs still resolve); every SerialNumber
and LotNumber attribute (Microscope, Detector, Objective, LightSource, Filter, ...); date-bearing
StructuredAnnotations (with the AnnotationRefs that point to them); MapAnnotation pairs whose key
names a date/person or whose value holds a date; and, as a last sweep, any other attribute or
text holding a date or an email address. Images named ``label``/``macro``/``overview`` are
reported with their IFDs so their pixels can be blanked.

tifffile parses OME-XML (``xml2dict``) but writes it only for whole new files, so we edit with
the standard library's ElementTree and check that the result still fits in the old bytes.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from htan_submission.phi.images.rules import DATE_RE, EMAIL_RE

PERSON_ATTRS = ("FirstName", "MiddleName", "LastName", "Email", "Institution", "UserName")
DEVICE_ATTRS = ("SerialNumber", "LotNumber")
LABEL_NAMES = {"label", "macro", "overview", "label image", "macro image", "slide label", "label_image",
               "macro_image", "thumbnail label"}
PERSONAL_KEY = re.compile(r"date|time|operator|user|name|email|person|owner|scanned|barcode|serial|lot|label"
                          r"|patient|institution", re.I)


class OmeError(Exception):
    """The OME-XML does not parse or cannot be written back in place (no values inside)."""


@dataclass(frozen=True)
class OmeFinding:
    location: str  # "OME Experimenter:0 Email"
    rule: str
    what: str
    value: str


def is_ome(text: str) -> bool:
    """tifffile's test: the description ends with ``OME>``."""
    return text[-10:].strip().endswith("OME>")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _register_namespaces(text: str) -> None:
    """Keep the document's prefixes (ElementTree would otherwise write ``ns0:``). The registry
    is process-wide; registering the same OME prefixes again is harmless."""
    for _event, (prefix, uri) in ET.iterparse(io.StringIO(text), events=("start-ns",)):
        if not re.fullmatch(r"ns\d+", prefix or ""):
            try:
                ET.register_namespace(prefix or "", uri)
            except ValueError:
                pass


def parse(text: str) -> ET.Element:
    try:
        _register_namespaces(text)
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise OmeError(f"OME-XML does not parse (line {exc.position[0]})") from None


def scrub_xml(text: str) -> tuple[str, list[OmeFinding], set[int], int]:
    """Return (new XML, what was removed, IFDs of label/macro images, label images whose IFDs
    the XML does not say)."""
    root = parse(text)
    found: list[OmeFinding] = []
    removed_ids: set[str] = set()
    parents = {child: parent for parent in root.iter() for child in parent}

    for element in list(root.iter()):
        name = _local(element.tag)
        ident = element.get("ID", name)
        if name == "AcquisitionDate" and element in parents:
            found.append(OmeFinding(f"OME {parents[element].get('ID', 'Image')} AcquisitionDate",
                                    "phi.image.datetime", "an acquisition date", element.text or ""))
            parents[element].remove(element)
            continue
        if name == "Experimenter":
            for attr in PERSON_ATTRS:
                if element.get(attr):
                    found.append(OmeFinding(f"OME {ident} {attr}", "phi.image.experimenter",
                                            f"the experimenter's {attr}", element.attrib.pop(attr)))
        for attr in DEVICE_ATTRS:
            if element.get(attr):
                found.append(OmeFinding(f"OME {ident} {attr}", "phi.image.serial",
                                        f"a device {attr}", element.attrib.pop(attr)))

    annotations = [e for e in root if _local(e.tag) == "StructuredAnnotations"]
    for block in annotations:
        for annotation in list(block):
            kind, ident = _local(annotation.tag), annotation.get("ID", "annotation")
            if kind == "MapAnnotation":
                _scrub_map(annotation, ident, found)
                continue
            body = " ".join([*annotation.itertext(), *(v for e in annotation.iter() for v in e.attrib.values())])
            if kind == "TimestampAnnotation" or DATE_RE.search(body) or EMAIL_RE.search(body):
                found.append(OmeFinding(f"OME {ident} ({kind})", "phi.image.datetime",
                                        "a date-bearing annotation", body.strip()))
                block.remove(annotation)
                removed_ids.add(ident)
    if removed_ids:
        for element in list(root.iter()):
            for child in list(element):
                if _local(child.tag) == "AnnotationRef" and child.get("ID") in removed_ids:
                    element.remove(child)

    _sweep(root, found)
    labels, unlocated = label_ifds(root)
    return _serialize(root, text), found, labels, unlocated


def _scrub_map(annotation: ET.Element, ident: str, found: list[OmeFinding]) -> None:
    for value in [e for e in annotation.iter() if _local(e.tag) == "Value"]:
        for pair in list(value):
            key, text = pair.get("K", ""), pair.text or ""
            if PERSONAL_KEY.search(key) or DATE_RE.search(text) or EMAIL_RE.search(text):
                found.append(OmeFinding(f"OME {ident} key {key[:40]!r}", "phi.image.annotation",
                                        "an annotation value (date or person)", text))
                value.remove(pair)


def _sweep(root: ET.Element, found: list[OmeFinding]) -> None:
    """Any attribute or text left anywhere that holds a date or an email address."""
    for element in root.iter():
        name = _local(element.tag)
        for attr, value in list(element.attrib.items()):
            if _local(attr) == "schemaLocation":
                continue
            if DATE_RE.search(value) or EMAIL_RE.search(value):
                found.append(OmeFinding(f"OME {element.get('ID', name)} {_local(attr)}", "phi.image.datetime",
                                        "a date or email address", value))
                del element.attrib[attr]
        if element.text and (DATE_RE.search(element.text) or EMAIL_RE.search(element.text)):
            found.append(OmeFinding(f"OME {element.get('ID', name)} text", "phi.image.datetime",
                                    "a date or email address", element.text))
            element.text = ""


def label_ifds(root: ET.Element) -> tuple[set[int], int]:
    """IFDs of Images whose Name says label/macro/overview, from their TiffData elements, and
    how many such Images have no explicit IFD (we do not guess those)."""
    ifds: set[int] = set()
    unlocated = 0
    for image in root.iter():
        if _local(image.tag) != "Image" or (image.get("Name") or "").strip().lower() not in LABEL_NAMES:
            continue
        tiffdatas = [e for e in image.iter() if _local(e.tag) == "TiffData"]
        located = False
        for tiffdata in tiffdatas:
            if any(_local(e.tag) == "UUID" and e.get("FileName") for e in tiffdata):
                continue  # a plane in another file of a multi-file set
            try:
                first = int(tiffdata.get("IFD", ""))
                count = int(tiffdata.get("PlaneCount", "1"))
            except ValueError:
                continue
            ifds.update(range(first, first + max(count, 1)))
            located = True
        unlocated += not located
    return ifds, unlocated


def _serialize(root: ET.Element, original: str) -> str:
    body = ET.tostring(root, encoding="unicode")
    body = body.replace(" />", "/>")  # ElementTree adds a space before "/>"; keep the old length
    declaration = re.match(r"\s*<\?xml[^>]*\?>\s*", original)
    return (declaration.group(0) if declaration else "") + body
