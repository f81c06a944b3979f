"""The scrub step on a batch in S3: ages over 89 flagged or capped by the center's policy, image
headers cleaned in place, and what needs a person reported as blocking."""

from __future__ import annotations

import pytest

from htan_submission.dev.demo_batch import build_demo_batch, upload_batch
from htan_submission.dev.phi_images import planted_found
from htan_submission.phi.batch import scrub_batch
from htan_submission.staging import stage_batch

pytestmark = pytest.mark.integration


@pytest.fixture
def old_participant_batch(tmp_path, moto_s3, s3_bucket):
    root = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    path = root / "VitalStatus.csv"
    path.write_text(path.read_text().replace("22000", "33000"))  # 90+ years: reveals the age
    return upload_batch(moto_s3.client(), root, s3_bucket, "batches/old")


@pytest.mark.parametrize("policy", ["flag", "cap"])
def test_ages_over_89_are_flagged_or_capped(policy, old_participant_batch, moto_s3, tmp_path):
    s3 = moto_s3.client()
    staged = stage_batch(s3, old_participant_batch, tmp_path / f"work-{policy}")
    result = scrub_batch(s3, staged, age_policy=policy)
    [age] = [f for f in result.tables.findings if f.column == "AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS"]
    assert (age.file, age.row) == ("VitalStatus.csv", 2)
    key = staged.batch.key("VitalStatus.csv")
    uploaded = s3.get_object(Bucket=staged.batch.bucket, Key=key)["Body"].read().decode()
    if policy == "flag":
        assert (age.rule, age.severity) == ("phi.age_over_89", "error")
        assert result.blocking and "33000" in uploaded
    else:
        assert (age.rule, age.severity) == ("phi.age_capped", "warning")
        assert not result.blocking and "33000" not in uploaded and "32872" in uploaded
    assert "33000" not in age.message


def test_image_headers_are_cleaned_in_s3_and_counted(old_participant_batch, moto_s3, tmp_path):
    s3 = moto_s3.client()
    staged = stage_batch(s3, old_participant_batch, tmp_path / "work")
    assert [name for _, name in staged.manifests] == ["BiospecimenData.csv", "Demographics.csv",
                                                     "DigitalPathologyData.csv", "VitalStatus.csv",
                                                     "scRNALevel1.csv"]
    result = scrub_batch(s3, staged, age_policy="cap")
    assert result.images.summary()["cleaned"] == 1
    slide = s3.get_object(Bucket=staged.batch.bucket,
                          Key=staged.batch.key("pathology/HTA200_1_slide1.svs"))["Body"].read()
    assert planted_found(slide) == []
    again = scrub_batch(s3, staged, age_policy="cap")
    assert again.images.summary()["cleaned"] == 0  # idempotent: nothing left to remove
