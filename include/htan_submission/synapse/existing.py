"""What Synapse already holds for a center: the IDs earlier batches submitted, so the cross-
manifest rules can check a new batch against them (a data file ID used twice across batches, a
participant whose Demographics came in an earlier release).

One paged children listing per folder of the ``v<N>_ingest`` tree, and one annotations read per
data file (Synapse has no bulk annotation read without an entity view). Record-based metadata
will join once RecordSets are written (transfer issue).
"""

from __future__ import annotations

from htan_submission.synapse.files import SynapseFiles
from htan_submission.validation.cross_rules import BIOSPECIMEN, PARTICIPANT, SynapseContext

FOLDER_TYPES = ("folder", "file")


def existing_ids(files: SynapseFiles, ingest_folder_id: str) -> SynapseContext:
    context = SynapseContext()
    pending = [ingest_folder_id]
    while pending:
        folder = pending.pop()
        for child in files.list_children(folder, FOLDER_TYPES):
            if child.get("type", "").endswith("Folder"):
                pending.append(child["id"])
                continue
            annotations = files.rest.get(f"/entity/{child['id']}/annotations2").get("annotations") or {}
            for value in (annotations.get("HTAN_DATA_FILE_ID") or {}).get("value") or []:
                context.data_file_ids.add(value)
            for value in (annotations.get("HTAN_PARENT_ID") or {}).get("value") or []:
                if BIOSPECIMEN.match(value):
                    context.biospecimens.add(value)
                    context.participants.add(BIOSPECIMEN.match(value)["participant"])
                elif PARTICIPANT.match(value):
                    context.participants.add(value)
            for value in (annotations.get("HTAN_PANEL_ID") or {}).get("value") or []:
                context.panels.add(value)
    return context
