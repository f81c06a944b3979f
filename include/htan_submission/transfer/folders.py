"""Where a data file of a component goes: ``v<N>_ingest/<module>/<level>`` (HTAN.md, layout.py).

The folder comes from the data model's policy file (``include/data_model/components.yaml``), the
single place it is written down. A component whose folder is not in the DCC's tree
(``layout.ingest_paths``) gets a ``transfer.no_target_folder`` finding rather than a folder
invented for it.
"""

from __future__ import annotations

from htan_submission.datamodel import load_components
from htan_submission.layout import ingest_paths

COMPONENT_FOLDERS: dict[str, str] = {
    c.name: c.folder for c in load_components().values() if not c.record_based and c.folder in set(ingest_paths())
}


def component_folder(component: str | None) -> str | None:
    """The module path under ``v<N>_ingest`` for a component's data files, or None."""
    return COMPONENT_FOLDERS.get(component or "")


def target_path(ingest_folder: str, module_path: str) -> str:
    """The folder path from the project, e.g. ``v1_ingest/WES/Level_1``."""
    return f"{ingest_folder}/{module_path}"
