"""Preflight against the emulator with the real synapseclient: each gate, and the token kept secret."""

from __future__ import annotations

import json
import logging
import re

import pytest

from htan_submission.config import Center
from htan_submission.synapse.client import SynapseTarget
from htan_submission.synapse.preflight import run_preflight

pytestmark = pytest.mark.integration
HTTPS_LINK = re.compile(r"https://\S+")


def _run(emulator, center: Center, token: str, tmp_path):
    return run_preflight(center, SynapseTarget(endpoint=emulator.base_url, token=token), cache_dir=str(tmp_path))


def _failed(report) -> dict[str, str]:
    return {c.name: c.detail for c in report.failures()}


def test_a_certified_submitter_with_access_passes(emulator, seeded_center, synapse_user, tmp_path):
    center, seeded = seeded_center
    report = _run(emulator, center, synapse_user.token, tmp_path)
    assert report.passed, report.summary()
    assert [c.name for c in report.checks] == [
        "login", "terms_of_service", "two_factor", "certified", "upload_permission"]
    assert report.target_folder_id == seeded.ingest_folder_id
    assert report.synapse_user == synapse_user.user_name


def test_an_uncertified_user_is_told_to_take_the_quiz(emulator, seeded_center, synapse_user, tmp_path):
    center, _ = seeded_center
    emulator.admin.set_user_flags(synapse_user.user_name, certified=False)
    report = _run(emulator, center, synapse_user.token, tmp_path)
    assert not report.passed
    assert set(_failed(report)) == {"certified", "upload_permission"}
    assert "only certified users" in _failed(report)["upload_permission"]
    assert all("User-Types" in c.fix for c in report.failures())


def test_two_factor_off_is_the_only_failure(emulator, seeded_center, synapse_user, tmp_path):
    center, _ = seeded_center
    emulator.admin.set_user_flags(synapse_user.user_name, twoFactor=False)
    report = _run(emulator, center, synapse_user.token, tmp_path)
    assert set(_failed(report)) == {"two_factor"}
    assert "Two-Factor" in report.failures()[0].fix


def test_terms_not_accepted_is_diagnosed_although_login_is_refused(emulator, seeded_center, synapse_user, tmp_path):
    center, _ = seeded_center
    emulator.admin.set_user_flags(synapse_user.user_name, tos=False)
    report = _run(emulator, center, synapse_user.token, tmp_path)
    assert set(_failed(report)) == {"login", "terms_of_service"}
    assert "Terms of Service" in report.summary()


def test_a_wrong_token_names_the_token(emulator, seeded_center, tmp_path):
    center, _ = seeded_center
    report = _run(emulator, center, "not-a-real-token", tmp_path)
    assert set(_failed(report)) == {"login"}
    assert "personal access token" in report.failures()[0].fix


def test_a_user_without_access_is_sent_to_the_liaison(emulator, seeded_center, make_user, tmp_path):
    center, _ = seeded_center
    outsider = make_user()
    report = _run(emulator, center, outsider.token, tmp_path)
    assert set(_failed(report)) == {"project_access"}
    assert "liaison" in report.failures()[0].fix


def test_view_only_access_cannot_upload(emulator, seeded_center, make_user, tmp_path):
    center, seeded = seeded_center
    viewer = make_user()
    emulator.admin.grant(seeded.project_id, viewer.user_name, "view")
    emulator.admin.grant(seeded.ingest_folder_id, viewer.user_name, "view")
    report = _run(emulator, center, viewer.token, tmp_path)
    assert set(_failed(report)) == {"upload_permission"}


def test_a_release_without_its_ingest_folder(emulator, seeded_center, synapse_user, tmp_path):
    center, _ = seeded_center
    from dataclasses import replace

    report = _run(emulator, replace(center, release=9), synapse_user.token, tmp_path)
    assert set(_failed(report)) == {"target_folder"}
    assert "v9_ingest" in report.failures()[0].detail


def test_every_failure_says_how_to_fix_it_with_a_link(emulator, seeded_center, make_user, tmp_path):
    center, seeded = seeded_center
    user = make_user(certified=False, two_factor=False)
    emulator.admin.grant(seeded.ingest_folder_id, user.user_name, "edit")
    emulator.admin.grant(seeded.project_id, user.user_name, "view")
    report = _run(emulator, center, user.token, tmp_path)
    assert len(report.failures()) == 3
    for check in report.failures():
        assert check.fix and HTTPS_LINK.search(check.fix), check


def test_the_token_never_appears_in_report_summary_or_logs(emulator, seeded_center, make_user, tmp_path, caplog):
    center, _ = seeded_center
    caplog.set_level(logging.DEBUG)
    for user in (make_user(certified=False), make_user(tos=False)):
        report = _run(emulator, center, user.token, tmp_path)
        assert user.token not in json.dumps(report.to_dict())
        assert user.token not in report.summary()
        assert user.token not in caplog.text
    assert "secret-token-123" not in repr(SynapseTarget(endpoint=None, token="secret-token-123"))
