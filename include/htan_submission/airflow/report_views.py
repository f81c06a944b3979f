"""The FastAPI app that serves each run's report files to the Airflow UI's users.

Airflow 3 mounts a plugin's ``fastapi_apps`` on its API server as they are: it adds no
authentication of its own (``airflow.api_fastapi.app.init_plugins`` only mounts them), so this app
checks every request itself, the way Airflow's own API does: the user comes from the
``Authorization: Bearer`` header or the UI's ``_token`` cookie (``core_api.security.get_user``), and
the user must be allowed to read that DAG's runs (``requires_access_dag("GET", RUN)``, the auth
manager's decision, team-aware). The root and DAG indexes list only what the user may read.

What can be served is narrow on purpose: only regular files directly inside a run folder
``<reports root>/<dag_id>/<safe run id>/`` (the folder ``reports.batch.run_report_dir`` writes),
with a report suffix (HTML, JSON, CSV), never a dotfile (``atomic_write``'s temp files), and only
when the resolved path (symlinks followed) is still under the reports root. Anything else is a 404
that says nothing about what exists.

URL layout under the mount prefix (``links.REPORTS_URL_PREFIX``)::

    /                             DAGs with reports (those the user may read)
    /<dag_id>/                    that DAG's runs with reports, newest first
    /<dag_id>/<run_id>/           the run's reports (run_id raw or already made safe)
    /<dag_id>/<run_id>/<file>     one report file
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from htan_submission.reports.batch import reports_root, run_report_dir

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}
# Reports come first in this order on a run's page; other files follow by name.
REPORT_ORDER = ("report.html", "validation.html", "phi_tables.html", "phi_images.html")
DAG_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,249}$")  # Airflow's KEY_REGEX, ASCII, no dotfile
FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.+-]{0,199}$")
# The reports are self-contained pages without script (reports/html.py); the policy keeps it so
# even if one ever carried markup it should not, and lets the Airflow UI frame them.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # a re-run rewrites its reports; findings are not for shared caches
}


class Access(Protocol):
    """Who is asking, and may they read a DAG's runs. ``user`` raises ``HTTPException`` (401)."""

    def user(self, request: Request) -> Awaitable[Any]: ...

    def may_read(self, request: Request, user: Any, dag_id: str) -> bool: ...


class AirflowAccess:
    """Airflow's own authentication and authorization, called the way its public API calls them.

    Imports Airflow's API modules only when a request arrives: the plugin module that builds this
    app is imported by every Airflow component, and only the API server serves requests."""

    async def user(self, request: Request) -> Any:
        from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

        credentials = await bearer_scheme(request)
        return await get_user(request, _oauth_token=None, bearer_credentials=credentials)

    def may_read(self, request: Request, user: Any, dag_id: str) -> bool:
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
        from airflow.api_fastapi.core_api.security import requires_access_dag

        try:
            requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=dag_id)(request, user)
        except HTTPException as exc:
            if exc.status_code == 403:
                return False
            raise
        return True


@dataclass(frozen=True)
class ReportFile:
    name: str
    size: int
    modified: datetime


def safe_run_dir(dag_id: str, run_id: str) -> Path | None:
    """The run's report folder exactly as ``run_report_dir`` names it, or None when the ids could
    name anything else (a path outside ``<root>/<dag_id>/``, a dotfile, the DAG folder itself) or
    the folder resolves (through a symlink) outside the reports root."""
    if not DAG_ID.match(dag_id):
        return None
    root = reports_root()
    folder = run_report_dir(dag_id, run_id)
    if folder.parent != root / dag_id or not folder.name or folder.name.startswith("."):
        return None
    return folder if _inside(folder, root) and folder.is_dir() else None


def safe_report_file(dag_id: str, run_id: str, name: str) -> Path | None:
    """A servable report file of the run, or None."""
    folder = safe_run_dir(dag_id, run_id)
    if folder is None or not FILE_NAME.match(name) or Path(name).suffix.lower() not in MEDIA_TYPES:
        return None
    path = folder / name
    return path if _inside(path, reports_root()) and path.is_file() else None


def run_reports(folder: Path) -> list[ReportFile]:
    """The files of a run folder that ``safe_report_file`` would serve, reports first."""
    files = []
    for path in folder.iterdir():
        if (FILE_NAME.match(path.name) and path.suffix.lower() in MEDIA_TYPES and path.is_file()
                and _inside(path, reports_root())):
            stat = path.stat()
            files.append(ReportFile(path.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
    rank = {name: i for i, name in enumerate(REPORT_ORDER)}
    return sorted(files, key=lambda f: (rank.get(f.name, len(rank)), Path(f.name).suffix != ".html", f.name))


def dag_folders() -> list[str]:
    root = reports_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if DAG_ID.match(p.name) and p.is_dir() and _inside(p, root))


def run_folders(dag_id: str) -> list[tuple[str, datetime]]:
    """Run folders of a DAG, newest first (a run folder's name is already a safe run id)."""
    root = reports_root()
    base = root / dag_id
    if not DAG_ID.match(dag_id) or not base.is_dir() or not _inside(base, root):
        return []
    runs = [(p.name, datetime.fromtimestamp(p.stat().st_mtime, UTC)) for p in base.iterdir()
            if not p.name.startswith(".") and safe_run_dir(dag_id, p.name) == base / p.name]
    return sorted(runs, key=lambda r: (r[1], r[0]), reverse=True)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop, an unreadable path
        return False


def create_app(access: Access, *, airflow_base_url: Callable[[], str] | None = None) -> FastAPI:
    """The report app; ``access`` decides who may read what (``AirflowAccess`` on the API server).

    ``airflow_base_url`` gives the UI's base URL for the "open the run in Airflow" link
    (``[api] base_url`` by default)."""
    from htan_submission.airflow.links import api_base_url

    base_url = airflow_base_url or api_base_url
    app = FastAPI(title="HTAN reports", docs_url=None, redoc_url=None, openapi_url=None)

    async def current_user(request: Request) -> Any:
        return await access.user(request)

    def require(request: Request, user: Any, dag_id: str) -> None:
        if not access.may_read(request, user, dag_id):
            raise HTTPException(403, "You may not read this DAG's runs.")

    @app.exception_handler(HTTPException)
    async def _error_page(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != "Not Found" else None
        text = {401: "Sign in to Airflow, then open this link again."}.get(exc.status_code) or detail or (
            "No such report." if exc.status_code == 404 else str(exc.detail))
        body = _page(f"{exc.status_code}", f"<p>{html.escape(text)}</p>")
        return HTMLResponse(body, status_code=exc.status_code, headers={**SECURITY_HEADERS, **(exc.headers or {})})

    @app.get("/", response_class=HTMLResponse)
    def root_index(request: Request, user: Any = Depends(current_user)) -> HTMLResponse:
        dags = [d for d in dag_folders() if access.may_read(request, user, d)]
        items = "".join(f'<li><a href="{quote(d, safe="")}/">{html.escape(d)}</a></li>' for d in dags)
        body = f"<ul>{items}</ul>" if dags else "<p>No reports yet.</p>"
        return _html(_page("HTAN reports", body))

    @app.get("/{dag_id}/", response_class=HTMLResponse)
    def dag_index(dag_id: str, request: Request, user: Any = Depends(current_user)) -> HTMLResponse:
        if not DAG_ID.match(dag_id):
            raise HTTPException(404)
        require(request, user, dag_id)
        runs = run_folders(dag_id)
        if not runs:
            raise HTTPException(404)
        rows = "".join(f'<tr><td><a href="{quote(name, safe="")}/">{html.escape(name)}</a></td>'
                       f"<td>{_when(when)}</td></tr>" for name, when in runs)
        body = (f'<p><a href="../">All DAGs</a></p><table><tr><th>Run</th><th>Last report written</th></tr>'
                f"{rows}</table>")
        return _html(_page(f"Reports of {dag_id}", body))

    @app.get("/{dag_id}/{run_id}/", response_class=HTMLResponse)
    def run_index(dag_id: str, run_id: str, request: Request, user: Any = Depends(current_user)) -> HTMLResponse:
        if not DAG_ID.match(dag_id):
            raise HTTPException(404)
        require(request, user, dag_id)
        folder = safe_run_dir(dag_id, run_id)
        if folder is None:
            raise HTTPException(404, "This run has written no report yet (or there is no such run).")
        files = run_reports(folder)
        rows = "".join(
            f'<tr><td><a href="{quote(f.name, safe="")}">{html.escape(f.name)}</a></td>'
            f'<td class="num">{f.size:,}</td><td>{_when(f.modified)}</td></tr>' for f in files)
        run_page = f"{base_url()}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        body = (f'<p><a href="../">All runs of {html.escape(dag_id)}</a> · '
                f'<a href="{html.escape(run_page)}" target="_top">Open the run in Airflow</a></p>'
                + (f"<table><tr><th>Report</th><th>Bytes</th><th>Written</th></tr>{rows}</table>" if files
                   else "<p>This run has written no report yet.</p>"))
        return _html(_page(f"Reports of {dag_id} run {run_id}", body))

    @app.get("/{dag_id}/{run_id}/{name}")
    def report_file(dag_id: str, run_id: str, name: str, request: Request,
                    user: Any = Depends(current_user)) -> FileResponse:
        if not DAG_ID.match(dag_id):
            raise HTTPException(404)
        require(request, user, dag_id)
        path = safe_report_file(dag_id, run_id, name)
        if path is None:
            raise HTTPException(404)
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix.lower()], headers=SECURITY_HEADERS,
                            content_disposition_type="inline", filename=path.name)

    return app


def _html(body: str) -> HTMLResponse:
    return HTMLResponse(body, headers=SECURITY_HEADERS)


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


CSS = ("body{font:14px/1.45 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1f2328;"
       "margin:0 auto;max-width:1000px;padding:0 24px 48px}h1{font-size:22px;border-bottom:3px solid #1f4e79;"
       "padding-bottom:6px}table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;"
       "padding:4px 8px;text-align:left}th{background:#f6f8fa}td.num{text-align:right}")


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
