"""HTAN reports in the Airflow UI: the report app, the "HTAN report" button, a menu entry.

Wiring only (logic in ``htan_submission.airflow.report_views`` and ``.links``). Airflow imports
plugins in every component, so this module builds nothing heavy: a FastAPI app object, a link
object and two dicts. Requests are served only by the API server, which mounts the app under
``/htan-reports`` (``REPORTS_URL_PREFIX``); the app authenticates and authorizes every request
itself, because Airflow adds no protection to plugin FastAPI apps.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from htan_submission.airflow.links import REPORTS_URL_PREFIX, HtanReportLink, LiaisonReviewLink, api_base_url
from htan_submission.airflow.report_views import AirflowAccess, create_app


class HtanReportsPlugin(AirflowPlugin):
    name = "htan_reports"
    fastapi_apps = [
        {"app": create_app(AirflowAccess()), "url_prefix": REPORTS_URL_PREFIX, "name": "HTAN reports"},
    ]
    # Global: no operator has to carry them; they answer "" (no button) outside htan_submission__* DAGs.
    global_operator_extra_links = [HtanReportLink(), LiaisonReviewLink()]
    external_views = [
        {"name": "HTAN reports", "href": f"{api_base_url()}{REPORTS_URL_PREFIX}/", "destination": "nav",
         "category": "browse"},
    ]
