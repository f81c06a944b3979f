"""The text editors behind the image scrub: date patterns, Aperio descriptions, OME-XML, patches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from htan_submission.dev import phi_images as gen
from htan_submission.phi.images import aperio, ome
from htan_submission.phi.images.patches import Patch, apply_to_bytes, merge_patches
from htan_submission.phi.images.rules import DATE_RE, blank_matches, has_date
from htan_submission.phi.images.source import UnreadableImage


@pytest.mark.parametrize("text", ["2019:03:04 10:11:12", "2019-03-04", "03/04/19", "3/4/2019", "04.03.2019",
                                  "4 Mar 2019", "March 4, 2019", "2019-03-04T10:11:12.5+01:00",
                                  "Mon Mar  4 10:11:12 2019", "scanned 2019/3/4 by x"])
def test_dates_are_found(text):
    assert has_date(text)


@pytest.mark.parametrize("text", ["Aperio Image Library v12.0.15", "http://www.openmicroscopy.org/Schemas/OME/2016-06",
                                  "MPP = 0.4990", "46000x32914 [0,100 46000x32914] (256x256) JPEG/RGB Q=30",
                                  "1.2.840.10008.5.1.4.1.1.77.1.6", "AppMag = 20", "v1.2.3", "2019", "12/2019"])
def test_versions_namespaces_and_numbers_are_not_dates(text):
    assert not has_date(text)


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200),
       st.sampled_from(["2019-03-04", "03/04/19", "2019:03:04 10:11:12"]))
def test_blanking_keeps_the_length_and_removes_the_date(prefix, date):
    text = f"{prefix} {date} tail"
    blanked, found = blank_matches(text, DATE_RE)
    assert len(blanked) == len(text)
    assert date not in blanked and found
    assert blanked.endswith(" tail")


def test_aperio_description_keeps_the_header_and_harmless_pairs():
    text = gen.aperio_description(46000, 32914, 256)
    new, removed = aperio.scrub_description(text)
    assert new.startswith("Aperio Image Library v12.0.15\r\n46000x32914 [0,0 46000x32914] (256x256) JPEG/RGB Q=70|")
    assert {key for key, _rule, _value in removed} == {"ScanScope ID", "Filename", "Date", "Time", "Time Zone",
                                                       "User", "DSR ID"}
    assert "|AppMag = 20|StripeWidth = 2040|MPP = 0.4990|" in new
    assert gen.planted_found(new.encode()) == []
    assert aperio.scrub_description(new) == (new, [])


def test_aperio_associated_images_are_named_by_their_second_line():
    assert aperio.associated_kind("Aperio Image Library v10.0.50\r\nlabel 387x463") == "label"
    assert aperio.associated_kind("Aperio Image Library v10.0.50\r\nmacro 1280x431") == "macro"
    assert aperio.associated_kind(gen.aperio_description(100, 100, 16)) is None
    assert aperio.mark_removed("Aperio X\r\nlabel 387x463", "label", 24) == "Aperio X\r\nlabel removed"
    assert aperio.mark_removed("Aperio X\r\nlabel 1x1", "label", 21) == "Aperio X\r\nlabel none"
    assert aperio.mark_removed("Aperio X\r\nlabel 1x1", "label", 10) is None


def test_ome_scrub_removes_people_dates_serials_and_keeps_namespaces():
    xml = gen.ome_xml(512, 512, 96, 64)
    new, found, labels, unlocated = ome.scrub_xml(xml)
    assert len(new.encode()) < len(xml.encode())
    assert new.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<OME xmlns="http://www.openmicroscopy.org/')
    assert "xsi:schemaLocation=" in new and "ns0" not in new
    assert gen.planted_found(new.encode()) == []
    assert labels == {1} and unlocated == 0
    rules = {f.rule for f in found}
    assert rules == {"phi.image.datetime", "phi.image.experimenter", "phi.image.serial", "phi.image.annotation"}
    assert ome.scrub_xml(new)[1] == []
    assert 'K="Stain"' in new and "Focus quality good" in new


def test_ome_label_without_an_ifd_is_counted_not_guessed():
    xml = gen.ome_xml(64, 64, 8, 8).replace('<TiffData IFD="1" PlaneCount="1"/>', "<TiffData/>")
    _new, _found, labels, unlocated = ome.scrub_xml(xml)
    assert labels == set() and unlocated == 1


def test_broken_ome_xml_is_an_error_without_its_content():
    with pytest.raises(ome.OmeError) as error:
        ome.scrub_xml('<OME xmlns="x"><Experimenter FirstName="Jolene"></OME>')
    assert "Jolene" not in str(error.value)


def test_patches_refuse_overlaps_and_protected_ranges():
    assert merge_patches([Patch(4, b"ab"), Patch(4, b"ab"), Patch(0, b"x", order=1)], 10) == \
        [Patch(4, b"ab"), Patch(0, b"x", order=1)]
    with pytest.raises(UnreadableImage):
        merge_patches([Patch(4, b"ab"), Patch(5, b"cd")], 10)
    with pytest.raises(UnreadableImage):
        merge_patches([Patch(9, b"ab")], 10)
    with pytest.raises(UnreadableImage):
        merge_patches([Patch(4, b"ab")], 10, protected=[(0, 2), (5, 8)])
    assert merge_patches([Patch(4, b"ab")], 10, protected=[(0, 4), (6, 8)]) == [Patch(4, b"ab")]
    assert apply_to_bytes(b"0123456789", [Patch(4, b"ab")]) == b"0123ab6789"
