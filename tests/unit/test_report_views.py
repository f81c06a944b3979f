"""The report app against real files in a temporary reports root: serving, indexes, refusals; the
"HTAN report" link; and the plugin as Airflow itself loads and mounts it, with Airflow's own auth."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from htan_submission.airflow.links import REPORTS_URL_PREFIX, HtanReportLink, LiaisonReviewLink, report_index_url
from htan_submission.airflow.report_views import create_app
from htan_submission.reports.batch import run_report_dir
from tests.conftest import REPO

DAG = "htan_submission__HTA200"
RUN = "manual__2026-03-01T07:00:00.123456+00:00"
VALIDATION = "<!doctype html><title>Validation of s3://b/batch/</title><p>4 errors</p>"


class FakeAccess:
    """Bearer token -> the DAGs that user may read; no token: 401."""

    def __init__(self, grants: dict[str, set[str]]):
        self.grants = grants

    async def user(self, request: Request) -> str:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.grants:
            raise HTTPException(401, "Not authenticated")
        return token

    def may_read(self, request: Request, user: str, dag_id: str) -> bool:
        return dag_id in self.grants[user]


@pytest.fixture
def reports(monkeypatch, tmp_path) -> Path:
    """A reports root with one run's reports (and things that must never be served) plus a secret
    file next to the root."""
    root = tmp_path / "reports"
    monkeypatch.setenv("HTAN_REPORTS_DIR", str(root))
    run = run_report_dir(DAG, RUN)
    run.mkdir(parents=True)
    (run / "validation.html").write_text(VALIDATION)
    (run / "validation.json").write_text('{"summary": {"errors": 4}}\n')
    (run / "validation.csv").write_text("file,row\n")
    (run / "phi_tables.html").write_text("<p>tables</p>")
    (run / ".validation.html.x1y2").write_text("half written")  # atomic_write's temp file
    (run / "notes.txt").write_text("not a report type")
    (run / "script.js").write_text("alert(1)")
    (tmp_path / "secret.html").write_text("SECRET-OUTSIDE-ROOT")
    (run / "escape.html").symlink_to(tmp_path / "secret.html")
    other = run_report_dir("htan_submission__HTA201", "manual__x")
    other.mkdir(parents=True)
    (other / "validation.html").write_text("other center")
    (root / DAG / "linked_run").symlink_to(tmp_path, target_is_directory=True)
    return root


@pytest.fixture
def client(reports) -> TestClient:
    access = FakeAccess({"liaison": {DAG, "htan_submission__HTA999"}, "other": {"htan_submission__HTA201"}})
    app = create_app(access, airflow_base_url=lambda: "https://airflow.example.org")
    return TestClient(app, headers={"Authorization": "Bearer liaison"})


def test_serves_a_report_with_safe_headers(client):
    response = client.get(f"/{DAG}/{quote(RUN, safe='')}/validation.html")
    assert response.status_code == 200
    assert response.text == VALIDATION
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    json_response = client.get(f"/{DAG}/{quote(RUN, safe='')}/validation.json")
    assert json_response.json() == {"summary": {"errors": 4}}
    assert json_response.headers["content-type"] == "application/json"


def test_the_run_may_be_named_by_its_safe_folder_name(client):
    folder = run_report_dir(DAG, RUN).name
    assert folder != RUN
    assert client.get(f"/{DAG}/{folder}/validation.html").text == VALIDATION


def test_run_index_lists_reports_only(client):
    response = client.get(f"/{DAG}/{quote(RUN, safe='')}/")
    assert response.status_code == 200
    page = response.text
    for name in ("validation.html", "phi_tables.html", "validation.json", "validation.csv"):
        assert f'href="{name}"' in page
    for name in (".validation.html.x1y2", "notes.txt", "script.js", "escape.html"):
        assert name not in page
    assert page.index("validation.html") < page.index("phi_tables.html") < page.index("validation.csv")
    assert f"https://airflow.example.org/dags/{DAG}/runs/{quote(RUN, safe='')}" in page


def test_dag_and_root_indexes_list_only_what_the_user_may_read(client):
    runs = client.get(f"/{DAG}/")
    assert runs.status_code == 200
    assert f'href="{quote(run_report_dir(DAG, RUN).name, safe="")}/"' in runs.text
    assert "linked_run" not in runs.text  # a symlinked folder leading out of the root
    root = client.get("/")
    assert f'href="{DAG}/"' in root.text and "HTA201" not in root.text
    theirs = client.get("/", headers={"Authorization": "Bearer other"})
    assert "htan_submission__HTA201/" in theirs.text and DAG not in theirs.text


@pytest.mark.parametrize("path", [
    f"/{DAG}/{quote(RUN, safe='')}/missing.html",
    f"/{DAG}/manual__nope/validation.html",
    f"/{DAG}/manual__nope/",
    "/htan_submission__HTA999/",
    "/htan_submission__HTA999/run/validation.html",
])
def test_missing_things_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "no report yet" in response.text if path.endswith("nope/") else "No such report." in response.text


@pytest.mark.parametrize("path", [
    f"/{DAG}/{quote(RUN, safe='')}/escape.html",  # a symlink to a file outside the root
    f"/{DAG}/{quote(RUN, safe='')}/notes.txt",  # not a report type
    f"/{DAG}/{quote(RUN, safe='')}/script.js",
    f"/{DAG}/{quote(RUN, safe='')}/.validation.html.x1y2",  # a dotfile
    f"/{DAG}/{quote(RUN, safe='')}/%2e%2e%2f%2e%2e%2fsecret.html",
    f"/{DAG}/{quote(RUN, safe='')}/..%2F..%2F..%2Fsecret.html",
    f"/{DAG}/..%2F..%2F/secret.html",
    f"/{DAG}/%2e%2e/secret.html",
    f"/{DAG}/%2e/validation.html",
    f"/{DAG}//validation.html",
    f"/{DAG}/linked_run/secret.html",  # a symlinked run folder leading out of the root
    "/%2e%2e/reports/secret.html",
    f"/..%2F{DAG}/{quote(RUN, safe='')}/validation.html",
    f"/{DAG}/{quote(RUN, safe='')}/%00validation.html",
])
def test_nothing_outside_a_run_folder_is_served(client, path):
    """Raw and percent-encoded dot segments, dotfiles, other types, symlinks out of the root: all 404
    (the HTTP client would normalise a literal ``/../``; the path helpers are tested without it below)."""
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 404
    assert "SECRET-OUTSIDE-ROOT" not in response.text


def test_the_safe_paths_hold_even_without_http_normalisation(reports):
    from htan_submission.airflow.report_views import safe_report_file, safe_run_dir

    assert safe_run_dir(DAG, "..") is None
    assert safe_run_dir(DAG, "") is None
    assert safe_run_dir("..", RUN) is None
    assert safe_run_dir(f"{DAG}/..", RUN) is None
    assert safe_run_dir(DAG, "linked_run") is None
    assert safe_report_file(DAG, RUN, "../../secret.html") is None
    assert safe_report_file(DAG, RUN, "escape.html") is None
    assert safe_report_file(DAG, RUN, "validation.html") == run_report_dir(DAG, RUN) / "validation.html"


def test_authentication_and_authorization(client):
    assert client.get("/", headers={"Authorization": ""}).status_code == 401
    assert client.get(f"/{DAG}/{quote(RUN, safe='')}/validation.html", headers={"Authorization": ""}).status_code == 401
    forbidden = client.get(f"/{DAG}/{quote(RUN, safe='')}/validation.html", headers={"Authorization": "Bearer other"})
    assert forbidden.status_code == 403 and VALIDATION not in forbidden.text
    assert client.get(f"/{DAG}/", headers={"Authorization": "Bearer other"}).status_code == 403


def test_the_link_points_at_the_run_index(client, monkeypatch):
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    key = SimpleNamespace(dag_id=DAG, task_id="validate", run_id=RUN, try_number=1, map_index=-1)
    url = HtanReportLink().get_link(None, ti_key=key)
    assert url == f"{REPORTS_URL_PREFIX}/{DAG}/manual__2026-03-01T07%3A00%3A00.123456%2B00%3A00/"
    page = client.get(url.removeprefix(REPORTS_URL_PREFIX))  # the app is mounted at the prefix
    assert page.status_code == 200 and 'href="validation.html"' in page.text
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org/")
    assert HtanReportLink().get_link(None, ti_key=key) == f"https://airflow.example.org{url}"
    assert HtanReportLink().get_link(None, ti_key=SimpleNamespace(dag_id="htan_nightly_discovery__HTA200",
                                                                  run_id=RUN)) == ""
    assert report_index_url("d", "r", base_url="https://x/airflow/") == "https://x/airflow/htan-reports/d/r/"


def test_the_review_link_sits_on_the_report_and_the_waiting_sign_off_only(monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org/")

    def link(dag_id: str, task_id: str) -> str:
        return LiaisonReviewLink().get_link(None, ti_key=SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=RUN))

    assert link(DAG, "liaison_signoff") == "https://airflow.example.org/dags/htan_liaison_review"
    assert link(DAG, "report") == "https://airflow.example.org/dags/htan_liaison_review"
    assert link(DAG, "validate") == "" and link("htan_nightly_discovery__HTA200", "liaison_signoff") == ""
    monkeypatch.delenv("AIRFLOW__API__BASE_URL")
    assert link(DAG, "liaison_signoff") == "/dags/htan_liaison_review"


# --- the plugin as Airflow loads it ---------------------------------------------------------------

@pytest.fixture
def airflow_plugins(monkeypatch):
    """Airflow's plugin manager reading this repository's plugins/ folder (caches reset around)."""
    from airflow import plugins_manager, settings

    def reset() -> None:
        for cached in (plugins_manager._get_plugins, plugins_manager.get_fastapi_plugins,
                       plugins_manager._get_extra_operators_links_plugins, plugins_manager._get_ui_plugins):
            cached.cache_clear()

    monkeypatch.setattr(settings, "PLUGINS_FOLDER", str(REPO / "plugins"))
    reset()
    yield plugins_manager
    reset()


def test_airflow_loads_the_plugin(airflow_plugins):
    plugins, errors = airflow_plugins._get_plugins()
    assert errors == {}
    plugin = next(p for p in plugins if p.name == "htan_reports")
    apps, _ = airflow_plugins.get_fastapi_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "HTAN reports"] == [REPORTS_URL_PREFIX]
    links = [type(link).__name__ for link in airflow_plugins.get_global_operator_extra_links()]
    assert "HtanReportLink" in links and "LiaisonReviewLink" in links
    assert plugin.external_views[0]["href"].endswith(f"{REPORTS_URL_PREFIX}/")


def test_the_serialized_submission_task_carries_the_link(airflow_plugins, reports, monkeypatch):
    """What the API server does for the UI: deserialize the DAG, ask the task for its extra links."""
    import importlib.util

    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    spec = importlib.util.spec_from_file_location("submission_dags_for_links", REPO / "dags" / "submission_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(getattr(module, DAG)))
    task = serialized.get_task("validate")
    assert "HTAN report" in task.extra_links
    ti = SimpleNamespace(key=SimpleNamespace(dag_id=DAG, task_id="validate", run_id=RUN, try_number=1, map_index=-1))
    assert task.get_extra_links(ti, "HTAN report") == report_index_url(DAG, RUN)


@pytest.fixture
def simple_auth(airflow_db, monkeypatch, tmp_path):
    """Airflow's SimpleAuthManager, initialised as the API server does, with a JWT secret."""
    from airflow.api_fastapi import app as api_app

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER",
                       "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "liaison:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(tmp_path / "passwords.json"))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-" + os.urandom(8).hex())
    api_app.purge_cached_app()
    yield api_app.init_auth_manager()
    api_app.purge_cached_app()


@pytest.mark.integration
def test_mounted_by_airflow_with_airflow_auth(airflow_plugins, simple_auth, reports):
    """Airflow's own ``init_plugins`` mounts the app; Airflow's JWT (cookie or bearer) and the auth
    manager decide."""
    from airflow.api_fastapi.app import init_plugins
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    api = FastAPI()
    init_plugins(api)
    client = TestClient(api)
    url = f"{REPORTS_URL_PREFIX}/{DAG}/{quote(RUN, safe='')}/validation.html"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    viewer = simple_auth.generate_jwt(SimpleAuthManagerUser(username="liaison", role="viewer"))
    by_header = client.get(url, headers={"Authorization": f"Bearer {viewer}"})
    assert by_header.status_code == 200 and by_header.text == VALIDATION
    client.cookies.set("_token", viewer)  # how the UI's browser session arrives
    assert client.get(f"{REPORTS_URL_PREFIX}/{DAG}/{quote(RUN, safe='')}/").status_code == 200
    client.cookies.clear()
    no_role = simple_auth.generate_jwt(SimpleAuthManagerUser(username="stranger", role=None))
    assert client.get(url, headers={"Authorization": f"Bearer {no_role}"}).status_code == 403
    listing = client.get(f"{REPORTS_URL_PREFIX}/", headers={"Authorization": f"Bearer {no_role}"})
    assert listing.status_code == 200 and DAG not in listing.text
