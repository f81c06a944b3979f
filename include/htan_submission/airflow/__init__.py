"""Airflow adapters: hooks, operators (and later sensors and triggers) over the Airflow-free core.

Each adapter is thin: it reads its arguments, builds its hook lazily, calls one core function
and returns a small result. This module is also the package's Airflow provider entry point, so
the UI knows the ``synapse`` connection type.
"""

from __future__ import annotations


def get_provider_info() -> dict:
    return {
        "package-name": "htan-submission",
        "name": "HTAN submission",
        "description": "Submit an HTAN center's assay data and metadata to Synapse.",
        "connection-types": [
            {
                "connection-type": "synapse",
                "hook-class-name": "htan_submission.airflow.hooks.SynapseHook",
                "hook-name": "Synapse",
            }
        ],
    }
