"""Synthetic images with planted PHI, for tests, the demo and the bench (no real person's data).

Each generator writes one file and returns its path. Every planted value is one of the
``PLANTED`` strings below, distinctive enough that a raw byte search for it after a scrub proves
it is gone (random pixel data never contains them by chance). Sizes are parameters: tests use
files of a few MB at most, the bench writes GiB-sized slides from a small pool of random tiles.

Formats: SVS-like pyramid (label + macro pages, Aperio descriptions), OME-TIFF (OME-XML with
experimenter, dates, serials, annotations; pyramid in SubIFDs; label image), generic pyramidal
TIFF/BigTIFF with SubIFDs, EXIF and GPS IFDs, NDPI-like (hand-written: tifffile does not write
NDPI), DICOM (with and without preamble, label image), and corrupt samples.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# -- the planted values ---------------------------------------------------------------------
DATETIME = "2019:03:04 10:11:12"
APERIO = {"ScanScope ID": "SS-PHI-7731", "Filename": "HTA200_1_PhiRoe_slide7", "Date": "03/04/19",
          "Time": "10:11:12", "Time Zone": "GMT-05:00", "User": "jphiroe-3f9a2c", "DSR ID": "dsr-phi-hospital"}
ARTIST = "Dr. Phineas Artiste"
HOST = "PATHSCAN-PHI-WS042"
COPYRIGHT = "St. Phi Hospital 2019"
DOCUMENT = "PhiRoe_case_file.svs"
PAGE_NAME = "PhiRoe page"
SOFTWARE = "ScanConsole v102 user jphiroe 2019-03-04"
LABEL_TEXT = "LABEL PHIROE JANE MRN 0042137"
EXPERIMENTER = {"FirstName": "Jolene", "LastName": "Phiington", "Email": "jolene.phiington@hospital.example.org",
                "Institution": "Saint Phi Hospital", "UserName": "jphiington"}
SERIALS = {"Microscope": "SN-MIC-55501", "Detector": "DET-SN-77123", "Objective": "OBJ-SN-31337"}
LOT = "LOT-99812"
OME_DATES = ["2019-03-04T10:11:12", "2019-03-05T08:00:00", "03/06/2019", "2019-03-07"]
NDPI = {"label": "NDPI-LABEL-PHIROE-4471", "serial": "C13220-PHI-0099",
        "properties": "[NanoZoomer]\r\nDate=2019/03/04\r\nOperator=jphiroe\r\nSerial=C13220-PHI-0099\r\n",
        "scan": "2019:03:08 09:09:09", "write": "2019:03:09 08:08:08"}
EXIF = {"DateTimeOriginal": "2019:03:10 07:07:07", "BodySerialNumber": "BODY-SN-123987",
        "CameraOwnerName": "Phillipa Ownerby"}
GPS_DATUM = "PHI-GPS-DATUM-WGS"
GENERIC_DESCRIPTION = "Acquired 2019-03-11 by jolene.phiington@hospital.example.org; stain H&E"
DICOM = {"PatientName": "PHIROE^JANE", "PatientID": "MRN0042137", "PatientBirthDate": "19500101",
         "StudyDate": "20190304", "AccessionNumber": "ACC-PHI-5521", "InstitutionName": "Saint Phi Hospital",
         "ReferringPhysicianName": "DOCTOR^PHIL", "DeviceSerialNumber": "DEV-SN-8842", "StationName": "PHI-STATION-7",
         "OtherPatientID": "OTHER-MRN-7788", "LabelText": "PHI LABEL TEXT 99", "BarcodeValue": "BARCODE-PHI-4242",
         "Private": "PRIVATE-PHI-BLOB", "StudyInstanceUID": "1.2.840.99999.20190304101112.1"}

PLANTED = sorted({DATETIME, *APERIO.values(), ARTIST, HOST, COPYRIGHT, DOCUMENT, PAGE_NAME, SOFTWARE, LABEL_TEXT,
                  *EXPERIMENTER.values(), *SERIALS.values(), LOT, *OME_DATES, NDPI["label"], NDPI["serial"],
                  NDPI["scan"], NDPI["write"], "Operator=jphiroe", *EXIF.values(), GPS_DATUM,
                  "2019-03-11", "jolene.phiington@hospital.example.org", *DICOM.values()})

APERIO_HEADER = "Aperio Image Library v12.0.15"


def planted_found(data: bytes, strings: list[str] | None = None) -> list[str]:
    """Which planted strings occur in ``data`` (ASCII)."""
    return [s for s in (strings or PLANTED) if s.encode() in data]


# -- pixels -----------------------------------------------------------------------------------
def tile_stream(shape: tuple[int, int, int], tile: int, seed: int = 0, pool: int = 8) -> Iterator[np.ndarray]:
    """Tiles for a tiled page of ``shape``, cycling through a small pool of random tiles: fast to
    make at any size, and every tile differs from its neighbours."""
    rng = np.random.default_rng(seed)
    tiles = [rng.integers(0, 255, (tile, tile, shape[2]), dtype=np.uint8) for _ in range(pool)]
    count = -(-shape[0] // tile) * -(-shape[1] // tile)
    for i in range(count):
        yield tiles[i % pool]


def _label_pixels(height: int, width: int, seed: int) -> np.ndarray:
    """A random 'photo' of a slide label whose first row spells ``LABEL_TEXT`` in its bytes."""
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    text = np.frombuffer(LABEL_TEXT.encode(), dtype=np.uint8)
    pixels.reshape(-1)[: text.size] = text
    return pixels


def _ascii(code: int, value: str) -> tuple:
    return (code, "s", 0, value, True)


# -- SVS --------------------------------------------------------------------------------------
def aperio_description(width: int, height: int, tile: int, extra: str = "") -> str:
    pairs = ["AppMag = 20", "StripeWidth = 2040", *(f"{k} = {v}" for k, v in APERIO.items()), "MPP = 0.4990",
             "Left = 25.691574", "Top = 23.449873", "ImageID = 1004486", f"OriginalWidth = {width}",
             f"OriginalHeight = {height}"]
    return f"{APERIO_HEADER}\r\n{width}x{height} [0,0 {width}x{height}] ({tile}x{tile}) JPEG/RGB Q=70{extra}|" + \
        "|".join(pairs)


def make_svs(path: str | Path, width: int = 768, height: int = 512, tile: int = 256, levels: int = 3,
             label_compression: str | None = None, bigtiff: bool | None = None, phi: bool = True) -> Path:
    """An SVS-like file: tiled base + thumbnail + tiled levels + label (subfiletype 1) + macro
    (subfiletype 9), Aperio descriptions with Date/Time/User/... on every level, and DateTime,
    Artist, HostComputer, Copyright, Software on every page."""
    import tifffile

    path = Path(path)
    if bigtiff is None:
        bigtiff = width * height * 3 > 3 * 2**30
    tags = [_ascii(315, ARTIST), _ascii(316, HOST), _ascii(33432, COPYRIGHT)] if phi else []
    common = {"metadata": None, "photometric": "rgb", "software": SOFTWARE if phi else "tifffile",
              **({"datetime": DATETIME} if phi else {})}
    with tifffile.TiffWriter(path, bigtiff=bigtiff) as tw:
        desc = aperio_description(width, height, tile) if phi else f"{APERIO_HEADER}\r\n{width}x{height}|AppMag = 20"
        tw.write(tile_stream((height, width, 3), tile, 1), shape=(height, width, 3), dtype=np.uint8,
                 tile=(tile, tile), description=desc, extratags=tags, **common)
        thumb = np.random.default_rng(2).integers(0, 255, (max(8, height // 16), max(8, width // 16), 3), np.uint8)
        tw.write(thumb, description=desc.replace("\r\n", f"\r\n{width}x{height} -> {thumb.shape[1]}x{thumb.shape[0]}"
                                                 " - ", 1), extratags=tags, **common)
        for level in range(1, levels):
            h, w = max(16, height >> level), max(16, width >> level)
            tw.write(tile_stream((h, w, 3), tile, 10 + level), shape=(h, w, 3), dtype=np.uint8, tile=(tile, tile),
                     description=aperio_description(w, h, tile) if phi else desc, extratags=tags, **common)
        label = _label_pixels(64, 96, 3)
        macro = _label_pixels(64, 192, 4)
        compression = {"compression": label_compression} if label_compression else {}
        tw.write(label, description=f"{APERIO_HEADER}\r\nlabel 96x64", subfiletype=1, rowsperstrip=16,
                 extratags=tags, **compression, **common)
        tw.write(macro, description=f"{APERIO_HEADER}\r\nmacro 192x64", subfiletype=9, rowsperstrip=16,
                 extratags=tags, **compression, **common)
    return path


# -- OME-TIFF ---------------------------------------------------------------------------------
def ome_xml(width: int, height: int, label_w: int, label_h: int) -> str:
    e = EXPERIMENTER
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="http://www.openmicroscopy.org/Schemas/OME/2016-06 \
http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd" Creator="htan-submission dev">
  <Experimenter ID="Experimenter:0" FirstName="{e['FirstName']}" LastName="{e['LastName']}" \
Email="{e['Email']}" Institution="{e['Institution']}" UserName="{e['UserName']}"/>
  <Instrument ID="Instrument:0">
    <Microscope Manufacturer="Zeiss" Model="Axio Scan.Z1" SerialNumber="{SERIALS['Microscope']}" LotNumber="{LOT}"/>
    <Detector ID="Detector:0" Model="Orca" SerialNumber="{SERIALS['Detector']}"/>
    <Objective ID="Objective:0" NominalMagnification="20" SerialNumber="{SERIALS['Objective']}"/>
  </Instrument>
  <Image ID="Image:0" Name="slide">
    <AcquisitionDate>{OME_DATES[0]}</AcquisitionDate>
    <ExperimenterRef ID="Experimenter:0"/>
    <InstrumentRef ID="Instrument:0"/>
    <Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" SizeX="{width}" SizeY="{height}" SizeC="3" \
SizeZ="1" SizeT="1" Interleaved="true" PhysicalSizeX="0.5" PhysicalSizeY="0.5">
      <Channel ID="Channel:0:0" SamplesPerPixel="3"><LightPath/></Channel>
      <TiffData IFD="0" PlaneCount="1"/>
    </Pixels>
    <AnnotationRef ID="Annotation:0"/>
    <AnnotationRef ID="Annotation:1"/>
    <AnnotationRef ID="Annotation:2"/>
    <AnnotationRef ID="Annotation:3"/>
  </Image>
  <Image ID="Image:1" Name="label">
    <AcquisitionDate>{OME_DATES[0]}</AcquisitionDate>
    <Pixels ID="Pixels:1" DimensionOrder="XYCZT" Type="uint8" SizeX="{label_w}" SizeY="{label_h}" SizeC="3" \
SizeZ="1" SizeT="1" Interleaved="true">
      <Channel ID="Channel:1:0" SamplesPerPixel="3"><LightPath/></Channel>
      <TiffData IFD="1" PlaneCount="1"/>
    </Pixels>
  </Image>
  <StructuredAnnotations>
    <TimestampAnnotation ID="Annotation:0"><Value>{OME_DATES[1]}</Value></TimestampAnnotation>
    <MapAnnotation ID="Annotation:1"><Value><M K="Scan date">{OME_DATES[2]}</M><M K="Operator">{e['FirstName']} \
{e['LastName']}</M><M K="Stain">H&amp;E</M></Value></MapAnnotation>
    <CommentAnnotation ID="Annotation:2"><Value>Scanned on {OME_DATES[3]} by {e['UserName']}</Value></CommentAnnotation>
    <CommentAnnotation ID="Annotation:3"><Value>Focus quality good</Value></CommentAnnotation>
  </StructuredAnnotations>
</OME>"""


def make_ome_tiff(path: str | Path, width: int = 512, height: int = 512, tile: int = 256, levels: int = 3,
                  bigtiff: bool = False) -> Path:
    """OME-TIFF: IFD 0 = full image with its pyramid in SubIFDs, IFD 1 = the label image; the
    OME-XML carries experimenter, dates, serials, lot number, dated annotations."""
    import tifffile

    path = Path(path)
    label = _label_pixels(64, 96, 5)
    common = {"metadata": None, "photometric": "rgb", "datetime": DATETIME, "software": "tifffile"}
    with tifffile.TiffWriter(path, bigtiff=bigtiff) as tw:
        tw.write(tile_stream((height, width, 3), tile, 21), shape=(height, width, 3), dtype=np.uint8,
                 tile=(tile, tile), subifds=levels - 1, description=ome_xml(width, height, 96, 64), **common)
        for level in range(1, levels):
            h, w = max(16, height >> level), max(16, width >> level)
            tw.write(tile_stream((h, w, 3), 16, 21 + level), shape=(h, w, 3), dtype=np.uint8, tile=(16, 16),
                     subfiletype=1, **common)
        tw.write(label, **common)
    return path


# -- generic pyramidal TIFF / BigTIFF with EXIF and GPS ---------------------------------------
EXIF_PLACEHOLDER, GPS_PLACEHOLDER = 34670, 34860  # renamed to 34665/34853 after writing (tifffile refuses those)


def make_pyramid_tiff(path: str | Path, width: int = 512, height: int = 512, tile: int = 128, levels: int = 3,
                      bigtiff: bool = False) -> Path:
    """A generic pyramidal TIFF: IFD 0 with SubIFDs (each with DateTime), DocumentName, PageName,
    a description with a date and an email, EXIF (DateTimeOriginal, serial, owner) and GPS IFDs,
    and a deflate-compressed label page named by its description."""
    import tifffile

    path = Path(path)
    pointer = (16, 1, 0, True) if bigtiff else (4, 1, 0, True)
    tags = [_ascii(269, DOCUMENT), _ascii(285, PAGE_NAME), _ascii(315, ARTIST), _ascii(316, HOST),
            (EXIF_PLACEHOLDER, *pointer), (GPS_PLACEHOLDER, *pointer)]
    common = {"metadata": None, "photometric": "rgb", "datetime": DATETIME, "software": SOFTWARE}
    with tifffile.TiffWriter(path, bigtiff=bigtiff) as tw:
        tw.write(tile_stream((height, width, 3), tile, 31), shape=(height, width, 3), dtype=np.uint8,
                 tile=(tile, tile), subifds=levels - 1, description=GENERIC_DESCRIPTION, extratags=tags, **common)
        for level in range(1, levels):
            h, w = max(16, height >> level), max(16, width >> level)
            tw.write(tile_stream((h, w, 3), 16, 31 + level), shape=(h, w, 3), dtype=np.uint8, tile=(16, 16),
                     subfiletype=1, **common)
        tw.write(_label_pixels(64, 96, 6), description="label", compression="zlib", rowsperstrip=16, **common)
    _attach_exif_gps(path, bigtiff)
    return path


def _attach_exif_gps(path: Path, bigtiff: bool) -> None:
    """Append EXIF and GPS IFDs at the end of the file and point IFD 0's placeholder tags at
    them (renaming the placeholders to the real pointer tags; sort order is unchanged)."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        page = tf.pages.first
        byteorder = tf.byteorder
        exif_tag, gps_tag = page.tags[EXIF_PLACEHOLDER], page.tags[GPS_PLACEHOLDER]
        slots = [(exif_tag.offset, exif_tag.valueoffset), (gps_tag.offset, gps_tag.valueoffset)]
    data = bytearray(path.read_bytes())
    if len(data) % 2:
        data += b"\x00"
    exif = [(36867, 2, EXIF["DateTimeOriginal"].encode() + b"\x00"),
            (42032, 2, EXIF["CameraOwnerName"].encode() + b"\x00"),
            (42033, 2, EXIF["BodySerialNumber"].encode() + b"\x00")]
    gps = [(0, 1, b"\x02\x03\x00\x00"), (18, 2, GPS_DATUM.encode() + b"\x00"), (29, 2, b"2019:03:12\x00")]
    offsets = []
    for entries in (exif, gps):
        offsets.append(len(data))
        data += build_ifd(entries, len(data), byteorder, bigtiff)
    fmt = byteorder + ("Q" if bigtiff else "I")
    for (entry_offset, value_offset), real, target in zip(slots, (34665, 34853), offsets, strict=True):
        struct.pack_into(byteorder + "H", data, entry_offset, real)
        struct.pack_into(fmt, data, value_offset, target)
    path.write_bytes(bytes(data))


def build_ifd(entries: list[tuple[int, int, bytes]], offset: int, byteorder: str, bigtiff: bool,
              next_offset: int = 0) -> bytes:
    """A standalone IFD at ``offset`` (values stored right after it); ``entries`` are
    (tag, type, raw value bytes), count derived from the type size."""
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 11: 4, 12: 8, 16: 8}
    count_fmt, entry_fmt, field = ("Q", "HHQ", 8) if bigtiff else ("H", "HHI", 4)
    head = struct.calcsize(byteorder + count_fmt)
    values_at = offset + head + len(entries) * (20 if bigtiff else 12) + field
    table, values = [struct.pack(byteorder + count_fmt, len(entries))], b""
    for tag, dtype, raw in sorted(entries):
        count = len(raw) // sizes[dtype]
        if len(raw) <= field:
            table.append(struct.pack(byteorder + entry_fmt, tag, dtype, count) + raw.ljust(field, b"\x00"))
        else:
            table.append(struct.pack(byteorder + entry_fmt, tag, dtype, count)
                         + struct.pack(byteorder + ("Q" if bigtiff else "I"), values_at + len(values)))
            values += raw + (b"\x00" if len(raw) % 2 else b"")
    table.append(struct.pack(byteorder + ("Q" if bigtiff else "I"), next_offset))
    return b"".join(table) + values


# -- NDPI -------------------------------------------------------------------------------------
def make_ndpi(path: str | Path, width: int = 512, height: int = 384) -> Path:
    """An NDPI-like file in NDPI's layout (8-byte header and next-IFD offsets, high-bit words
    after each IFD): two pyramid levels, a macro page (Magnification -1, showing the label) and
    a map page (-2), each with the private SlideLabel, serial, properties and time tags.
    Uncompressed strips (real NDPI uses JPEG) so tifffile can read it back without codecs."""
    path = Path(path)
    rng = np.random.default_rng(41)
    pages = [(rng.integers(0, 255, (height, width, 3), np.uint8), 20.0),
             (rng.integers(0, 255, (height // 4, width // 4, 3), np.uint8), 5.0),
             (_label_pixels(64, 192, 7), -1.0),
             (rng.integers(0, 255, (32, 64, 3), np.uint8), -2.0)]
    out = bytearray(b"II*\x00" + bytes(8))
    previous_next = 4  # where to write the offset of the next IFD
    for pixels, magnification in pages:
        strip = len(out)
        out += pixels.tobytes()
        if len(out) % 2:
            out += b"\x00"
        h, w = pixels.shape[:2]
        entries = [
            (256, 4, struct.pack("<I", w)), (257, 4, struct.pack("<I", h)), (258, 3, struct.pack("<3H", 8, 8, 8)),
            (259, 3, struct.pack("<H", 1)), (262, 3, struct.pack("<H", 2)), (271, 2, b"Hamamatsu\x00"),
            (272, 2, b"C13220\x00"), (273, 4, struct.pack("<I", strip)), (277, 3, struct.pack("<H", 3)),
            (278, 4, struct.pack("<I", h)), (279, 4, struct.pack("<I", pixels.nbytes)),
            (306, 2, DATETIME.encode() + b"\x00"), (65420, 4, struct.pack("<I", 1)),
            (65421, 11, struct.pack("<f", magnification)), (65427, 2, NDPI["label"].encode() + b"\x00"),
            (65442, 2, NDPI["serial"].encode() + b"\x00"), (65449, 2, NDPI["properties"].encode() + b"\x00"),
            (65456, 2, NDPI["scan"].encode() + b"\x00"), (65457, 2, NDPI["write"].encode() + b"\x00"),
        ]
        ifd_offset = len(out)
        struct.pack_into("<Q", out, previous_next, ifd_offset)
        out += _ndpi_ifd(entries, ifd_offset)
        previous_next = ifd_offset + 2 + 12 * len(entries)
    Path(path).write_bytes(bytes(out))
    return path


def _ndpi_ifd(entries: list[tuple[int, int, bytes]], offset: int) -> bytes:
    classic = build_ifd(entries, offset, "<", False)
    count = len(entries)
    table_end = 2 + 12 * count
    values = classic[table_end + 4:]
    # move the values after the 8-byte next offset and the 4*count high-bit words
    shift = 4 + 4 * count
    table = bytearray(classic[:table_end])
    for i in range(count):
        _tag, dtype, n, field = struct.unpack_from("<HHII", table, 2 + 12 * i)
        if n * {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 11: 4}[dtype] > 4:
            struct.pack_into("<I", table, 2 + 12 * i + 8, field + shift)
    return bytes(table) + bytes(8) + bytes(4 * count) + values


# -- DICOM ------------------------------------------------------------------------------------
def make_dicom(path: str | Path, preamble: bool = True, label: bool = False, encapsulated: bool = False,
               rows: int = 64, columns: int = 96) -> Path:
    """A VL Whole Slide Microscopy image with PHI in names, dates, IDs, institution, device
    serial, a nested sequence, a private tag and instance UIDs; ``label=True`` makes it a LABEL
    image whose pixels spell ``LABEL_TEXT``. ``preamble=False`` writes a bare implicit-VR dataset
    (no preamble, no file meta), as old or hand-made files are."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

    d = DICOM
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.6"
    ds.SOPInstanceUID = "1.2.840.99999.20190304101112.3"
    ds.StudyInstanceUID = d["StudyInstanceUID"]
    ds.SeriesInstanceUID = "1.2.840.99999.20190304101112.2"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LABEL" if label else "VOLUME", "NONE"]
    ds.StudyDate = ds.ContentDate = d["StudyDate"]
    ds.StudyTime = ds.ContentTime = "101112"
    ds.AccessionNumber = d["AccessionNumber"]
    ds.Modality = "SM"
    ds.Manufacturer = "Synthetic"
    ds.InstitutionName = d["InstitutionName"]
    ds.ReferringPhysicianName = d["ReferringPhysicianName"]
    ds.StationName = d["StationName"]
    ds.PatientName = d["PatientName"]
    ds.PatientID = d["PatientID"]
    ds.PatientBirthDate = d["PatientBirthDate"]
    ds.PatientSex = "F"
    other = Dataset()
    other.PatientID = d["OtherPatientID"]
    other.IssuerOfPatientID = "PHI-HOSPITAL"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.DeviceSerialNumber = d["DeviceSerialNumber"]
    ds.StudyID = "STUDY-1"
    ds.ContainerIdentifier = "CONTAINER-1"
    ds.LabelText = d["LabelText"]
    ds.BarcodeValue = d["BarcodeValue"]
    ds.SpecimenLabelInImage = "YES" if label else "NO"
    ds.private_block(0x0009, "HTAN DEV", create=True).add_new(0x01, "LO", d["Private"])
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation, ds.PlanarConfiguration = 7, 0, 0
    pixels = (_label_pixels(rows, columns, 8) if label else
              np.random.default_rng(9).integers(0, 255, (rows, columns, 3), np.uint8)).tobytes()
    if encapsulated:
        ds.PixelData = encapsulate([pixels[: len(pixels) // 2], pixels[len(pixels) // 2:]])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        transfer = JPEGBaseline8Bit
    else:
        ds.PixelData = pixels
        transfer = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    if preamble:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = transfer
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    else:
        pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    Path(path).write_bytes(buffer.getvalue())
    return Path(path)


# -- corrupt samples --------------------------------------------------------------------------
def make_corrupt(directory: str | Path) -> dict[str, Path]:
    """Damaged inputs a scrub must refuse without touching: name -> path."""
    import tifffile

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    good = make_svs(directory / "_good.svs", width=256, height=256, tile=128, levels=1)
    data = good.read_bytes()
    good.unlink()
    samples: dict[str, Path] = {}

    def put(name: str, content: bytes) -> None:
        samples[name] = directory / name
        samples[name].write_bytes(content)

    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        offsets = [page.offset for page in tf.pages]
        description = tf.pages.first.tags[270]
    put("truncated.svs", data[: offsets[1] + 6])  # the second IFD is cut short
    loop = bytearray(data)
    last = offsets[-1]
    count = struct.unpack_from("<H", loop, last)[0]
    struct.pack_into("<I", loop, last + 2 + 12 * count, offsets[0])
    put("ifd_loop.svs", bytes(loop))
    past = bytearray(data)
    struct.pack_into("<I", past, description.offset + 8, len(data) + 4096)
    put("offset_past_eof.tif", bytes(past))
    huge = bytearray(data)
    struct.pack_into("<I", huge, description.offset + 4, 2**31)  # a 2 GB description in a small file
    put("huge_description.svs", bytes(huge))
    put("zero_byte.svs", b"")
    put("jpeg_renamed.svs", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + np.random.default_rng(1).integers(0, 255, 2048, np.uint8).tobytes() + b"\xff\xd9")
    return samples


# -- checking -----------------------------------------------------------------------------------
def page_data_hashes(path: str | Path, ndpi: bool = False) -> dict[str, str]:
    """SHA-256 of the strip/tile bytes of every page and SubIFD, read by tifffile (an
    independent reader): ``{"IFD 0": ..., "IFD 0 SubIFD 1": ...}``."""
    import hashlib

    import tifffile

    hashes = {}
    with tifffile.TiffFile(path, is_ndpi=ndpi or None) as tf:
        handle = tf.filehandle
        for page in tf.pages:
            subs = [(f"IFD {page.index}", page)]
            subs += [(f"IFD {page.index} SubIFD {k}", sub) for k, sub in enumerate(page.pages or [])]
            for name, sub in subs:
                digest = hashlib.sha256()
                for offset, count in zip(sub.dataoffsets, sub.databytecounts, strict=True):
                    handle.seek(offset)
                    digest.update(handle.read(count))
                hashes[name] = digest.hexdigest()
    return hashes
