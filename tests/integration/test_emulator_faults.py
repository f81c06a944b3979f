"""Injected faults against the real synapseclient 4.14.0: its own retries must carry it through.

Every test reads the rule back from ``admin.faults()`` and checks how often it ``fired``, so a
test cannot pass because the fault never matched. Patterns are anchored to one route (and, where
possible, to the test's own entity id) so a rule cannot fire on another test's calls.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid

import httpx
import pytest
import synapseclient
from synapseclient.core.exceptions import SynapseHTTPError
from synapseclient.models import File, Folder, Project

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]


MIB = 1024 * 1024


@pytest.fixture
def project(syn):
    return Project(name=f"faults-{uuid.uuid4().hex[:8]}").store(synapse_client=syn)


def _fired(admin, rule: dict) -> int:
    return next(r["fired"] for r in admin.faults() if r["id"] == rule["id"])


def _write(tmp_path, name: str, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return str(path), data


def test_429_with_retry_after_on_post_entity_is_retried(syn, emulator, faults, project):
    rule = faults.add_fault(r"^/repo/v1/entity$", method="POST", status=429, retryAfter=1, count=2)
    folder = Folder(name="after-429", parent_id=project.id).store(synapse_client=syn)
    assert _fired(faults, rule) == 2
    assert emulator.admin.entity(project.id)["children"] == [folder.id]
    answered = [c["status"] for c in emulator.admin.calls()
                if c["path"] == "/repo/v1/entity" and c["method"] == "POST" and c["fault"] == "status"]
    assert answered[-2:] == [429, 429]


def test_429_answer_carries_retry_after_and_synapse_shape(emulator, faults, synapse_user):
    rule = faults.add_fault(r"^/repo/v1/userProfile$", status=429, retryAfter=3, count=1)
    headers = {"Authorization": f"Bearer {synapse_user.token}"}
    throttled = httpx.get(f"{emulator.base_url}/repo/v1/userProfile", headers=headers)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "3"
    assert throttled.headers["content-type"].startswith("application/json")
    assert "reason" in throttled.json()
    assert httpx.get(f"{emulator.base_url}/repo/v1/userProfile", headers=headers).status_code == 200
    assert _fired(faults, rule) == 1


def test_429_on_presigned_url_batch_is_retried(syn, emulator, faults, project, tmp_path):
    rule = faults.add_fault(r"^/file/v1/file/multipart/\d+/presigned/url/batch$", status=429, count=2)
    path, data = _write(tmp_path, "batch.bin", 32 * 1024)
    stored = File(path=path, parent_id=project.id).store(synapse_client=syn)
    assert _fired(faults, rule) == 2
    handle = emulator.admin.entity(stored.id)["entity"]["dataFileHandleId"]
    assert emulator.admin.file_content(handle) == data


def test_503_on_add_part_is_retried(syn, emulator, faults, project, tmp_path):
    rule = faults.add_fault(r"^/file/v1/file/multipart/\d+/add/\d+$", method="PUT", status=503, count=2)
    path, data = _write(tmp_path, "parts.bin", 9 * MIB)  # two parts
    stored = File(path=path, parent_id=project.id).store(synapse_client=syn)
    assert _fired(faults, rule) == 2
    handle = emulator.admin.file_handle(emulator.admin.entity(stored.id)["entity"]["dataFileHandleId"])
    assert handle["storedMd5"] == hashlib.md5(data).hexdigest()
    assert handle["storedBytes"] == len(data)


def test_dropped_connection_on_login_is_retried(syn_for, make_user, faults):
    user = make_user(prefix="drop")
    rule = faults.add_fault(r"^/repo/v1/userProfile/?$", method="GET", action="drop", count=1)
    syn = syn_for(user)
    assert _fired(faults, rule) == 1
    assert syn.credentials.owner_id == user.owner_id
    dropped = [c for c in faults.calls() if c["fault"] == "drop" and c["path"].startswith("/repo/v1/userProfile")]
    assert dropped, "the call log records the dropped call"


def test_dropped_connection_on_entity_child_lookup_is_retried(syn, emulator, faults, project):
    rule = faults.add_fault(r"^/repo/v1/entity/child$", method="POST", action="drop", count=1)
    folder = Folder(name="after-drop", parent_id=project.id).store(synapse_client=syn)
    assert _fired(faults, rule) == 1
    assert emulator.admin.entity(project.id)["children"] == [folder.id]


def test_latency_delays_but_does_not_fail(syn, faults, project):
    folder = Folder(name="slow", parent_id=project.id).store(synapse_client=syn)
    rule = faults.add_fault(rf"^/repo/v1/entity/{folder.id}$", method="GET", action="latency", latencyMs=400,
                            count=1)
    started = time.monotonic()
    body = syn.restGET(f"/entity/{folder.id}")
    elapsed = time.monotonic() - started
    assert body["name"] == "slow"
    assert _fired(faults, rule) == 1
    assert elapsed >= 0.4


def test_503_after_a_committed_post_then_legacy_store_recovers_from_409(syn, emulator, faults, project):
    rule = faults.add_fault(r"^/repo/v1/entity$", method="POST", status=503, count=1, after=True)
    folder = syn.store(synapseclient.Folder(name="committed", parent=project.id, description="v1"))
    assert _fired(faults, rule) == 1

    children = emulator.admin.entity(project.id)["children"]
    assert children == [folder.id]
    posts = [c["status"] for c in faults.calls() if c["path"] == "/repo/v1/entity" and c["method"] == "POST"
             and c["user"] == syn.credentials.owner_id]
    assert posts[-2:] == [503, 409], "the retry of the committed POST met the entity it had created"
    stored = emulator.admin.entity(folder.id)["entity"]
    assert stored["name"] == "committed"
    assert stored["description"] == "v1"


def test_503_after_a_committed_post_surfaces_as_409_in_the_models_api(syn, emulator, faults, project):
    """The contrast: the OOP ``Folder.store`` does not reconcile the 409, but the entity exists once."""
    rule = faults.add_fault(r"^/repo/v1/entity$", method="POST", status=503, count=1, after=True)
    with pytest.raises(SynapseHTTPError) as err:
        Folder(name="committed", parent_id=project.id).store(synapse_client=syn)
    assert err.value.response.status_code == 409
    assert _fired(faults, rule) == 1
    children = emulator.admin.entity(project.id)["children"]
    assert len(children) == 1
    assert emulator.admin.entity(children[0])["entity"]["name"] == "committed"
    # A second store finds the entity by name and goes through.
    again = Folder(name="committed", parent_id=project.id).store(synapse_client=syn)
    assert again.id == children[0]


def test_a_fault_before_the_route_changes_nothing(syn, emulator, faults, project):
    """Without ``after`` the fault answers before the route runs, so a failed POST created nothing."""
    rule = faults.add_fault(r"^/repo/v1/entity$", method="POST", status=500, count=1)
    body = {"concreteType": "org.sagebionetworks.repo.model.Folder", "name": "never", "parentId": project.id}
    with pytest.raises(SynapseHTTPError) as err:
        syn.restPOST("/entity", body=json.dumps(body), retryPolicy={"retries": 0})
    assert err.value.response.status_code == 500
    assert _fired(faults, rule) == 1
    assert emulator.admin.entity(project.id)["children"] == []
