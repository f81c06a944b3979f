from pathlib import Path

import pytest

from htan_submission.config import ConfigError, get_center, load_centers


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "centers.yaml"
    path.write_text(text)
    return path


def test_defaults_apply_and_center_overrides(tmp_path):
    path = _write(tmp_path, """
defaults: {release: 3, transfer_mode: copy}
centers:
  HTA201: {name: A, synapse_project_id: syn1, s3: {bucket: b, prefix: p/}, transfer_mode: index}
""")
    center = load_centers(path)["HTA201"]
    assert (center.release, center.transfer_mode, center.s3.prefix) == (3, "index", "p/")
    assert center.ingest_folder_name == "v3_ingest" and center.dag_id == "htan_submission__HTA201"


@pytest.mark.parametrize(("spec", "message"), [
    ("HTA999: {name: A, synapse_project_id: syn1, s3: {bucket: b}}", "center ids"),
    ("HTA201: {name: A, synapse_project_id: 123, s3: {bucket: b}}", "synapse_project_id"),
    ("HTA201: {name: A, synapse_project_id: syn1}", "'s3' is required"),
    ("HTA201: {name: A, synapse_project_id: syn1, s3: {bucket: b}, transfer_mode: fast}", "transfer_mode"),
    ("HTA201: {name: A, synapse_project_id: syn1, s3: {bucket: b}, age_policy: drop}", "age_policy"),
])
def test_wrong_settings_name_the_center_and_key(tmp_path, spec, message):
    with pytest.raises(ConfigError, match=message):
        load_centers(_write(tmp_path, f"centers:\n  {spec}\n"))


def test_unknown_center(tmp_path):
    path = _write(tmp_path, "centers:\n  HTA201: {name: A, synapse_project_id: syn1, s3: {bucket: b}}\n")
    with pytest.raises(ConfigError, match="HTA205"):
        get_center("HTA205", path)


def test_a_run_may_write_into_another_releases_ingest_folder(tmp_path):
    path = tmp_path / "centers.yaml"
    path.write_text("centers:\n  HTA9:\n    name: x\n    synapse_project_id: syn1\n"
                    "    s3: {bucket: b}\n    release: 1\n")
    center = get_center("HTA9", str(path))
    assert center.for_release(None) is center and center.for_release("") is center
    assert center.for_release("2").ingest_folder_name == "v2_ingest"  # a rendered template: text
    assert center.for_release(3).release == 3 and center.release == 1
    for wrong in ("two", "0", "-1"):
        with pytest.raises(ConfigError, match="release"):
            center.for_release(wrong)
