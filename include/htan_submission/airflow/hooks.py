"""``SynapseHook``: the Airflow connection ``synapse_default`` -> a logged-in Synapse gateway.

The connection's password is the submitter's personal access token; its host, when set, is an
endpoint base URL that overrides synapse.org (the emulator in tests and the demo). Airflow
masks connection passwords in task logs; the hook never logs or returns the token.
"""

from __future__ import annotations

import tempfile
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from htan_submission.synapse.client import SynapseTarget


class SynapseHook(BaseHook):
    conn_name_attr = "synapse_conn_id"
    default_conn_name = "synapse_default"
    conn_type = "synapse"
    hook_name = "Synapse"

    def __init__(self, synapse_conn_id: str = default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.synapse_conn_id = synapse_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "port", "extra"],
            "relabeling": {"host": "Endpoint override (empty = synapse.org)", "password": "Personal access token"},
            "placeholders": {"host": "http://127.0.0.1:8999 for the local emulator"},
        }

    def target(self) -> SynapseTarget:
        conn = self.get_connection(self.synapse_conn_id)
        if not conn.password:
            raise ValueError(
                f"Airflow connection {self.synapse_conn_id!r} has no password: store the submitter's Synapse "
                "personal access token there."
            )
        endpoint = conn.host or None
        if endpoint and "://" not in endpoint:
            endpoint = f"{conn.schema or 'https'}://{endpoint}"
        if endpoint and conn.port:
            endpoint = f"{endpoint}:{conn.port}"
        return SynapseTarget(endpoint=endpoint, token=conn.password)

    @cached_property
    def cache_dir(self) -> str:
        """A cache per hook: tasks never share synapseclient's cache across submitters."""
        return tempfile.mkdtemp(prefix="htan-synapse-")

    def get_conn(self):
        from htan_submission.synapse.gateway import SynapseGateway

        return SynapseGateway.login(self.target(), self.cache_dir)

    def test_connection(self) -> tuple[bool, str]:
        try:
            caller = self.get_conn().caller()
        except Exception as exc:
            return False, str(exc)
        return True, f"Logged in as {caller.user_name}"
