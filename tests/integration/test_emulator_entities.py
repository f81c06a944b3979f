"""The real synapseclient 4.14.0 against the emulator: entities, children, annotations, bundles, ACLs.

Each test drives the client over HTTP and then reads what landed through the emulator's admin
API, so a test passes only when the bytes, names, parents and annotations are really stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import httpx
import pytest
import synapseclient
from synapseclient.core.exceptions import SynapseHTTPError
from synapseclient.models import Annotations, File, Folder, Project

from htan_submission.synapse.client import SynapseTarget, connect

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]
DOWNLOAD_ROUTE = "/_storage/download/{handle_id}/{file_name}"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.fixture
def project(syn):
    return Project(name=_name("entities")).store(synapse_client=syn)


def _status(exc_info) -> int:
    return exc_info.value.response.status_code


def _fresh_client(emulator, user, tmp_path):
    """A second client for ``user`` with an empty cache: its ``get`` must download over HTTP,
    where the uploading client would copy the file from its own cache."""
    cache = tmp_path / f"fresh-{uuid.uuid4().hex[:6]}"
    cache.mkdir()
    return connect(SynapseTarget(endpoint=emulator.base_url, token=user.token), cache_dir=str(cache))


def _downloads(emulator, handle_id: str) -> int:
    prefix = f"/_storage/download/{handle_id}/"
    return sum(1 for c in emulator.admin.calls()
               if c["route"] == DOWNLOAD_ROUTE and c["path"].startswith(prefix) and c["status"] == 200)


# --- models API ------------------------------------------------------------------------------

def test_project_and_folder_store_twice_update_the_same_entities(syn, emulator):
    name = _name("proj")
    first = Project(name=name, description="one").store(synapse_client=syn)
    again = Project(name=name, description="two").store(synapse_client=syn)
    assert again.id == first.id
    stored = emulator.admin.entity(first.id)["entity"]
    assert stored["description"] == "two"
    assert stored["parentId"] == "syn4489"

    folder = Folder(name="raw", parent_id=first.id).store(synapse_client=syn)
    folder_again = Folder(name="raw", parent_id=first.id, description="re-stored").store(synapse_client=syn)
    assert folder_again.id == folder.id
    assert emulator.admin.entity(first.id)["children"] == [folder.id]
    assert emulator.admin.entity(folder.id)["entity"]["description"] == "re-stored"


def test_file_store_with_annotations_then_get_and_delete(syn, synapse_user, emulator, project, tmp_path):
    data = os.urandom(2048)
    # A name that must be percent-encoded in the download URL.
    path = _write(tmp_path / "sample (1) a+b.bin", data)
    annotations = {"assay": ["scRNA-seq"], "count": [3], "ratio": [0.5], "flag": [True],
                   "tags": ["a", "b"]}
    stored = File(path=str(path), parent_id=project.id, annotations=annotations).store(synapse_client=syn)

    record = emulator.admin.entity(stored.id)
    assert record["entity"]["name"] == "sample (1) a+b.bin"
    assert record["entity"]["parentId"] == project.id
    assert record["annotations"] == {
        "assay": {"type": "STRING", "value": ["scRNA-seq"]},
        "count": {"type": "LONG", "value": ["3"]},
        "ratio": {"type": "DOUBLE", "value": ["0.5"]},
        "flag": {"type": "BOOLEAN", "value": ["true"]},
        "tags": {"type": "STRING", "value": ["a", "b"]},
    }
    handle_id = record["entity"]["dataFileHandleId"]
    assert emulator.admin.file_handle(handle_id)["storedMd5"] == hashlib.md5(data).hexdigest()
    assert emulator.admin.file_content(handle_id) == data

    download_dir = tmp_path / "download"
    reader = _fresh_client(emulator, synapse_user, tmp_path)
    fetched = File(id=stored.id, path=str(download_dir)).get(synapse_client=reader)
    assert fetched.annotations["count"] == [3]
    assert fetched.annotations["flag"] == [True]
    assert os.path.basename(fetched.path) == "sample (1) a+b.bin"
    assert Path(fetched.path).read_bytes() == data
    assert _downloads(emulator, handle_id) == 1

    File(id=stored.id).delete(synapse_client=syn)
    with pytest.raises(httpx.HTTPStatusError):
        emulator.admin.entity(stored.id)
    with pytest.raises(SynapseHTTPError) as err:
        syn.restGET(f"/entity/{stored.id}")
    assert _status(err) == 404


def test_children_listing_pages_past_fifty(syn, emulator, project):
    count = 57
    parent = Folder(name="many", parent_id=project.id,
                    folders=[Folder(name=f"child{i:03d}") for i in range(count)]).store(synapse_client=syn)
    stored_children = emulator.admin.entity(parent.id)["children"]
    assert len(stored_children) == count

    first = syn.restPOST("/entity/children", body=json.dumps({"parentId": parent.id, "includeTypes": ["folder"]}))
    assert len(first["page"]) == 50
    assert first["nextPageToken"]
    second = syn.restPOST("/entity/children", body=json.dumps(
        {"parentId": parent.id, "includeTypes": ["folder"], "nextPageToken": first["nextPageToken"]}))
    assert len(second["page"]) == count - 50
    assert "nextPageToken" not in second
    assert {c["id"] for c in first["page"] + second["page"]} == set(stored_children)

    listed = list(syn.getChildren(parent.id))
    assert sorted(c["name"] for c in listed) == [f"child{i:03d}" for i in range(count)]

    synced = Folder(id=parent.id).sync_from_synapse(download_file=False, synapse_client=syn)
    assert sorted(f.id for f in synced.folders) == sorted(stored_children)

    import synapseutils

    walked = list(synapseutils.walk(syn, parent.id))
    assert len(walked[0][1]) == count


# --- classic API -----------------------------------------------------------------------------

def test_classic_store_get_and_annotations(syn, synapse_user, emulator, tmp_path):
    project = syn.store(synapseclient.Project(name=_name("classic")))
    folder = syn.store(synapseclient.Folder(name="data", parent=project))
    data = os.urandom(4096)
    path = _write(tmp_path / "reads R1's.fastq", data)
    entity = syn.store(synapseclient.File(str(path), parent=folder, assay="bulkRNA", replicate=2))

    record = emulator.admin.entity(entity.id)
    assert record["entity"]["parentId"] == folder.id
    assert record["annotations"]["assay"] == {"type": "STRING", "value": ["bulkRNA"]}
    assert record["annotations"]["replicate"] == {"type": "LONG", "value": ["2"]}
    assert emulator.admin.entity(project.id)["children"] == [folder.id]

    reader = _fresh_client(emulator, synapse_user, tmp_path)
    fetched = reader.get(entity.id, downloadLocation=str(tmp_path / "out"))
    assert Path(fetched.path).read_bytes() == data
    assert _downloads(emulator, record["entity"]["dataFileHandleId"]) == 1

    current = syn.get_annotations(entity)
    current["stage"] = ["final"]
    current["score"] = [1.5]
    syn.set_annotations(current)
    after = syn.get_annotations(entity.id)
    assert after["stage"] == ["final"]
    assert after["score"] == [1.5]
    assert emulator.admin.entity(entity.id)["annotations"]["score"] == {"type": "DOUBLE", "value": ["1.5"]}


# --- annotations v2 rules ------------------------------------------------------------------------

def _put_annotations(syn, entity_id: str, etag: str, annotations: dict):
    body = {"id": entity_id, "etag": etag, "annotations": annotations}
    return syn.restPUT(f"/entity/{entity_id}/annotations2", body=json.dumps(body))


def _string(value: str) -> dict:
    return {"type": "STRING", "value": [value]}


def test_annotations_stale_etag_is_412(syn, emulator, project):
    folder = Folder(name="etag", parent_id=project.id).store(synapse_client=syn)
    current = syn.restGET(f"/entity/{folder.id}/annotations2")
    updated = _put_annotations(syn, folder.id, current["etag"], {"a": _string("1")})
    assert updated["etag"] != current["etag"]
    with pytest.raises(SynapseHTTPError) as err:
        _put_annotations(syn, folder.id, current["etag"], {"a": _string("2")})
    assert _status(err) == 412
    assert emulator.admin.entity(folder.id)["annotations"] == {"a": _string("1")}
    # The models API raises the same error when it stores annotations itself.
    with pytest.raises(SynapseHTTPError) as err:
        Annotations(id=folder.id, etag=current["etag"], annotations={"a": ["3"]}).store(synapse_client=syn)
    assert _status(err) == 412


@pytest.mark.parametrize("annotations", [
    {"HTAN Participant ID": _string("x")},
    {"participant-id": _string("x")},
    {f"key{i}": _string("x") for i in range(101)},
    {"long": _string("x" * 501)},
    {"split": {"type": "STRING", "value": ["x" * 250, "y" * 251]}},
    {"count": {"type": "LONG", "value": ["three"]}},
], ids=["space", "hyphen", "101-keys", "501-chars", "501-chars-over-values", "bad-long"])
def test_annotations_outside_synapse_limits_are_400(syn, emulator, project, annotations):
    folder = Folder(name="limits", parent_id=project.id).store(synapse_client=syn)
    etag = syn.restGET(f"/entity/{folder.id}/annotations2")["etag"]
    with pytest.raises(SynapseHTTPError) as err:
        _put_annotations(syn, folder.id, etag, annotations)
    assert _status(err) == 400
    assert emulator.admin.entity(folder.id)["annotations"] == {}


def test_annotations_at_synapse_limits_are_accepted(syn, emulator, project):
    folder = Folder(name="limits", parent_id=project.id).store(synapse_client=syn)
    etag = syn.restGET(f"/entity/{folder.id}/annotations2")["etag"]
    annotations = {f"key{i}": _string("x") for i in range(99)}
    annotations["long"] = _string("x" * 500)
    _put_annotations(syn, folder.id, etag, annotations)
    assert len(emulator.admin.entity(folder.id)["annotations"]) == 100


# --- names, bundles, permissions -----------------------------------------------------------------

def test_duplicate_name_under_a_parent_is_409(syn, emulator, project):
    body = {"concreteType": "org.sagebionetworks.repo.model.Folder", "name": "twin", "parentId": project.id}
    first = syn.restPOST("/entity", body=json.dumps(body))
    with pytest.raises(SynapseHTTPError) as err:
        syn.restPOST("/entity", body=json.dumps(body))
    assert _status(err) == 409
    assert "already exists" in str(err.value)
    assert emulator.admin.entity(project.id)["children"] == [first["id"]]


def test_bundle_create_stores_entity_and_annotations_in_one_call(syn, emulator, project):
    request = {
        "entity": {"concreteType": "org.sagebionetworks.repo.model.Folder", "name": "bundled",
                   "parentId": project.id},
        "annotations": {"annotations": {"center": _string("HTA1"), "n": {"type": "LONG", "value": ["7"]}}},
    }
    bundle = syn.restPOST("/entity/bundle2/create", body=json.dumps(request))
    entity_id = bundle["entity"]["id"]
    stored = emulator.admin.entity(entity_id)
    assert stored["entity"]["parentId"] == project.id
    assert stored["annotations"] == request["annotations"]["annotations"]
    assert bundle["annotations"]["etag"] == stored["entity"]["etag"]


def test_bundle_create_with_bad_annotations_creates_nothing(syn, emulator, project):
    request = {
        "entity": {"concreteType": "org.sagebionetworks.repo.model.Folder", "name": "bundled",
                   "parentId": project.id},
        "annotations": {"annotations": {"bad key": _string("x")}},
    }
    with pytest.raises(SynapseHTTPError) as err:
        syn.restPOST("/entity/bundle2/create", body=json.dumps(request))
    assert _status(err) == 400
    assert emulator.admin.entity(project.id)["children"] == []


def test_second_user_needs_a_grant_and_view_does_not_allow_store(syn, syn_for, make_user, emulator, project,
                                                                   tmp_path):
    folder = Folder(name="shared", parent_id=project.id).store(synapse_client=syn)
    data = os.urandom(1500)
    owned = File(path=str(_write(tmp_path / "owned.bin", data)), parent_id=folder.id).store(synapse_client=syn)
    other = make_user(prefix="viewer")
    other_syn = syn_for(other)

    with pytest.raises(SynapseHTTPError) as err:
        Folder(id=folder.id).get(synapse_client=other_syn)
    assert _status(err) == 403
    with pytest.raises(SynapseHTTPError) as err:
        other_syn.get(owned.id, downloadLocation=str(tmp_path / "denied"))
    assert _status(err) == 403

    emulator.admin.grant(folder.id, other.user_name, "view")
    seen = Folder(id=folder.id).get(synapse_client=other_syn)
    assert seen.name == "shared"
    assert [c["id"] for c in other_syn.getChildren(folder.id)] == [owned.id]
    downloaded = other_syn.get(owned.id, downloadLocation=str(tmp_path / "viewer"))
    assert Path(downloaded.path).read_bytes() == data
    permissions = other_syn.restGET(f"/entity/{folder.id}/permissions")
    assert permissions["canView"] is True
    assert permissions["canAddChild"] is False

    path = _write(tmp_path / "intruder.txt", b"not allowed")
    with pytest.raises(SynapseHTTPError) as err:
        File(path=str(path), parent_id=folder.id).store(synapse_client=other_syn)
    assert _status(err) == 403
    assert emulator.admin.entity(folder.id)["children"] == [owned.id]
    # The project itself stays private: the grant was on the folder only.
    with pytest.raises(SynapseHTTPError) as err:
        other_syn.restGET(f"/entity/{project.id}")
    assert _status(err) == 403


def test_new_content_makes_a_new_version_and_old_versions_stay_readable(syn, synapse_user, emulator, project,
                                                                        tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first_bytes, second_bytes = b"version one " * 100, b"version two " * 120
    first = File(path=str(_write(tmp_path / "one" / "v.txt", first_bytes)), parent_id=project.id,
                 annotations={"stage": ["draft"]}).store(synapse_client=syn)
    second = File(path=str(_write(tmp_path / "two" / "v.txt", second_bytes)), parent_id=project.id).store(
        synapse_client=syn)

    assert second.id == first.id
    stored = emulator.admin.entity(first.id)["entity"]
    assert stored["versionNumber"] == 2
    assert emulator.admin.file_content(stored["dataFileHandleId"]) == second_bytes
    assert emulator.admin.entity(first.id)["annotations"]["stage"] == {"type": "STRING", "value": ["draft"]}
    old = syn.restGET(f"/entity/{first.id}/version/1")
    assert (old["versionNumber"], old["isLatestVersion"]) == (1, False)
    assert emulator.admin.file_content(old["dataFileHandleId"]) == first_bytes

    reader = _fresh_client(emulator, synapse_user, tmp_path)
    v1 = reader.get(first.id, version=1, downloadLocation=str(tmp_path / "v1"))
    assert Path(v1.path).read_bytes() == first_bytes
    latest = File(id=first.id, path=str(tmp_path / "latest")).get(synapse_client=reader)
    assert latest.version_number == 2
    assert Path(latest.path).read_bytes() == second_bytes

    # A PUT with the etag of before the new version is refused.
    with pytest.raises(SynapseHTTPError) as err:
        syn.restPUT(f"/entity/{first.id}", body=json.dumps({**old, "description": "stale"}))
    assert _status(err) == 412


def test_children_hidden_by_their_own_acl_are_not_listed(syn, syn_for, make_user, emulator, project):
    opened = Folder(name="open", parent_id=project.id).store(synapse_client=syn)
    restricted = Folder(name="restricted", parent_id=project.id).store(synapse_client=syn)
    viewer = make_user(prefix="lister")
    emulator.admin.grant(project.id, viewer.user_name, "view")
    # The owner takes the viewer off the folder: a local ACL copied from the project's, minus the viewer.
    syn.setPermissions(restricted.id, int(viewer.owner_id), accessType=[], warn_if_inherits=False)
    local = syn.restGET(f"/entity/{restricted.id}/acl")
    assert local["id"] == restricted.id
    assert viewer.owner_id not in {str(ra["principalId"]) for ra in local["resourceAccess"]}

    viewer_syn = syn_for(viewer)
    assert [c["id"] for c in viewer_syn.getChildren(project.id)] == [opened.id]
    counted = viewer_syn.restPOST("/entity/children", body=json.dumps(
        {"parentId": project.id, "includeTypes": ["folder"], "includeTotalChildCount": True}))
    assert counted["totalChildCount"] == 1
    with pytest.raises(SynapseHTTPError) as err:
        viewer_syn.restGET(f"/entity/{restricted.id}")
    assert _status(err) == 403
    assert sorted(c["id"] for c in syn.getChildren(project.id)) == sorted([opened.id, restricted.id])


def test_sync_from_synapse_downloads_a_tree(syn, synapse_user, emulator, project, tmp_path):
    import synapseutils

    folder = Folder(name="tree", parent_id=project.id).store(synapse_client=syn)
    sub = Folder(name="sub", parent_id=folder.id).store(synapse_client=syn)
    contents = {"top.txt": (folder.id, os.urandom(700)), "deep (2).txt": (sub.id, os.urandom(900))}
    for name, (parent_id, data) in contents.items():
        File(path=str(_write(tmp_path / name, data)), parent_id=parent_id).store(synapse_client=syn)

    synced = Folder(id=folder.id).sync_from_synapse(path=str(tmp_path / "models"),
                                                    synapse_client=_fresh_client(emulator, synapse_user, tmp_path))
    assert Path(synced.files[0].path).read_bytes() == contents["top.txt"][1]
    assert Path(synced.folders[0].files[0].path).read_bytes() == contents["deep (2).txt"][1]

    legacy = synapseutils.syncFromSynapse(_fresh_client(emulator, synapse_user, tmp_path), folder.id,
                                          path=str(tmp_path / "legacy"))
    assert {f.name: Path(f.path).read_bytes() for f in legacy} == {n: d for n, (_, d) in contents.items()}
    assert (tmp_path / "legacy" / "sub" / "deep (2).txt").read_bytes() == contents["deep (2).txt"][1]
