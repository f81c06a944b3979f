"""The folder layout the DCC creates in each center's project, per release (HTAN.md).

Centers write only into ``v<N>_ingest``; its sub-folders follow the data-model modules, and the
JSON schemas are bound to the leaf folders.
"""

from __future__ import annotations

INGEST_TREE: dict[str, list[str]] = {
    "Clinical": ["Demographics", "Diagnosis", "Therapy", "FollowUp", "MolecularTest", "Exposure",
                 "FamilyHistory", "VitalStatus"],
    "Biospecimen": [],
    "WES": ["Level_1", "Level_2", "Level_3"],
    "scRNA_seq": ["Level_1", "Level_2", "Level_3_4"],
    "SpatialOmics": ["Level_1", "Level_3", "Level_4", "Panel"],
    "Imaging": ["DigitalPathology", "MultiplexMicroscopy"],
    "Imaging/MultiplexMicroscopy": ["Level_2", "Level_3", "Level_4", "ChannelMetadata"],
}
RELEASE_FOLDERS = ("ingest", "staging", "release")


def release_folders(release: int) -> list[str]:
    return [f"v{release}_{kind}" for kind in RELEASE_FOLDERS]


def ingest_paths() -> list[str]:
    """Every folder path under ``vN_ingest``, parents before children."""
    paths: list[str] = []
    for parent, leaves in INGEST_TREE.items():
        if parent not in paths:
            paths.append(parent)
        paths.extend(f"{parent}/{leaf}" for leaf in leaves if f"{parent}/{leaf}" not in paths)
    return paths
