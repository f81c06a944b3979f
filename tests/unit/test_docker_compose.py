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
    assert len({services[name]["image"] for name in AIRFLOW_SERVICES}) == 1
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


BUILT_IMAGE_SERVICES = AIRFLOW_SERVICES | {"htan-seed", "synapse-emulator"}
AIRFLOW_COMMANDS = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}


def _pinned(package: str) -> str:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def _dockerfile() -> list[str]:
    return [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_is_the_pinned_airflow_plus_our_pinned_requirements():
    lines = _dockerfile()
    assert lines[0] == f"FROM apache/airflow:{_pinned('apache-airflow')}-python3.11"
    install = next(line for line in lines if "pip install" in line)
    assert "-r /opt/htan/requirements.txt" in install and "-c /opt/htan/constraints.txt" in install
    assert any(line.startswith("COPY requirements.txt constraints.txt /opt/htan/") for line in lines)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "*" in ignored and {"!requirements.txt", "!constraints.txt"} <= set(ignored)  # .venv stays out


def test_every_service_of_ours_runs_the_built_image():
    services = _compose()["services"]
    tag = f"htan-submission-airflow:{_pinned('apache-airflow')}"
    for name in BUILT_IMAGE_SERVICES:
        assert services[name]["image"] == tag and services[name]["build"] == ".", name


def test_airflow_3_commands_and_the_execution_api_point_at_the_api_server():
    services = _compose()["services"]
    for name, command in AIRFLOW_COMMANDS.items():
        assert services[name]["command"] == command, name
    env = services["airflow-scheduler"]["environment"]
    port = services["airflow-apiserver"]["ports"][0].split(":")[-1]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://airflow-apiserver:{port}/execution/"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]  # one secret shared by every component (same anchor)
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    init = services["airflow-init"]["command"][-1]
    assert "airflow db migrate" in init and "airflow pools set synapse_api" in init
    assert services["airflow-init"]["depends_on"]["htan-seed"] == {"condition": "service_completed_successfully"}


def test_the_demo_centers_liaisons_are_airflow_users_of_their_own():
    from htan_submission.config import get_center
    from htan_submission.dev.demo_world import liaison_names

    env = _compose()["services"]["airflow-apiserver"]["environment"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    users = dict(u.split(":") for u in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","))
    assert users.get("admin") == "admin"
    for liaison in liaison_names(get_center("HTA200"), "airflow"):
        assert users.get(liaison) in ("user", "op", "admin"), liaison  # may trigger the review DAG


def test_the_seed_and_emulator_commands_parse_with_our_command_lines():
    import shlex

    from htan_submission.dev.demo_world import build_parser as seed_parser
    from synapse_emulator.server import build_parser as emulator_parser

    services = _compose()["services"]
    for name, module, parser in (("htan-seed", "htan_submission.dev.demo_world", seed_parser),
                                 ("synapse-emulator", "synapse_emulator", emulator_parser)):
        words = shlex.split(services[name]["command"][-1])
        assert words[:3] == ["python", "-m", module], name
        parser().parse_args(words[3:])  # SystemExit on an unknown or missing option


def test_volumes_written_by_the_airflow_user_are_made_in_the_image():
    services = _compose()["services"]
    made = " ".join(line for line in _dockerfile() if line.startswith("RUN mkdir"))
    named = set(_compose()["volumes"])
    for name in BUILT_IMAGE_SERVICES:
        for mount in services[name].get("volumes", []):
            source, target = mount.split(":")[:2]
            if source in named:
                assert target in made, (name, target)
