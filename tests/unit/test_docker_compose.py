"""docker-compose.yaml cannot be run here (no Docker engine): check it statically."""

from __future__ import annotations

import yaml

from tests.conftest import REPO

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init"}


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_every_part_of_the_stack_is_there():
    services = _compose()["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis", "minio", "synapse-emulator"} <= set(services)


def test_airflow_services_share_one_image_config_and_the_repo_folders():
    services = _compose()["services"]
    images = {services[name]["image"] for name in AIRFLOW_SERVICES}
    assert images == {"apache/airflow:3.3.2-python3.11"}
    for name in AIRFLOW_SERVICES:
        mounts = {m.split(":")[1] for m in services[name]["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= mounts
        env = services[name]["environment"]
        assert "synapse-emulator:8999" in env["AIRFLOW_CONN_SYNAPSE_DEFAULT"]


def test_depends_on_names_existing_services_and_mounted_paths_exist():
    services = _compose()["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), (name, source)
