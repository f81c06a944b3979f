"""The emulator as a process: ``--state FILE`` survives a restart, the ready line, ``--seed-user``.

These tests start their own emulators (not the session one), so they also check that two
emulators can run side by side on free ports.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from synapseclient.core.upload.multipart_upload_async import multipart_upload_file_async
from synapseclient.models import File, Folder, Project

from htan_submission.synapse.client import SynapseTarget, connect
from synapse_emulator.launch import EmulatorAdmin, running_emulator

pytestmark = pytest.mark.integration

TOKEN = "tok-state-owner"
PART = 8 * 1024 * 1024


def _connect(emu, tmp_path, token: str = TOKEN):
    """A client with a cache of its own, so downloads after a restart really go over HTTP."""
    cache = tmp_path / f"cache-{uuid.uuid4().hex[:8]}"
    cache.mkdir()
    return connect(SynapseTarget(endpoint=emu.base_url, token=token), cache_dir=str(cache))


def _half_upload(syn, path: Path, data: bytes) -> str:
    """Start the multipart upload synapseclient would start for ``path`` and send part 1 only."""
    request = {"concreteType": "org.sagebionetworks.repo.model.file.MultipartUploadRequest",
               "contentType": "application/octet-stream", "contentMD5Hex": hashlib.md5(data).hexdigest(),
               "fileName": path.name, "fileSizeBytes": len(data), "generatePreview": True,
               "partSizeBytes": PART, "storageLocationId": None}
    upload_id = syn.restPOST("/file/multipart?forceRestart=false", body=json.dumps(request),
                             endpoint=syn.fileHandleEndpoint)["uploadId"]
    batch = syn.restPOST(f"/file/multipart/{upload_id}/presigned/url/batch",
                         body=json.dumps({"uploadId": upload_id, "partNumbers": [1]}), endpoint=syn.fileHandleEndpoint)
    httpx.put(batch["partPresignedUrls"][0]["uploadPresignedUrl"], content=data[:PART]).raise_for_status()
    added = syn.restPUT(f"/file/multipart/{upload_id}/add/1?partMD5Hex={hashlib.md5(data[:PART]).hexdigest()}",
                        endpoint=syn.fileHandleEndpoint)
    assert added["addPartState"] == "ADD_SUCCESS"
    return upload_id


def test_state_file_keeps_entities_annotations_and_bytes_across_a_restart(tmp_path):
    state = tmp_path / "state.db"
    data = os.urandom(3000)
    (tmp_path / "kept.bin").write_bytes(data)
    big = os.urandom(PART + 1024 * 1024)
    (tmp_path / "half.bin").write_bytes(big)

    with running_emulator(state=str(state), seed_users=[f"owner:{TOKEN}"]) as emu:
        syn = _connect(emu, tmp_path)
        project = Project(name="persistent").store(synapse_client=syn)
        folder = Folder(name="data", parent_id=project.id, annotations={"stage": ["raw"]}).store(synapse_client=syn)
        stored = File(path=str(tmp_path / "kept.bin"), parent_id=folder.id,
                      annotations={"assay": ["WES"], "reads": [12]}).store(synapse_client=syn)
        before = {i: emu.admin.entity(i) for i in (project.id, folder.id, stored.id)}
        handle_id = before[stored.id]["entity"]["dataFileHandleId"]
        upload_id = _half_upload(syn, tmp_path / "half.bin", big)
        counts = emu.admin.state()

    with running_emulator(state=str(state), seed_users=[f"owner:{TOKEN}"]) as emu:
        assert emu.admin.state() == counts
        for entity_id, record in before.items():
            assert emu.admin.entity(entity_id) == record
        assert emu.admin.file_content(handle_id) == data
        assert emu.admin.file_handle(handle_id)["storedMd5"] == hashlib.md5(data).hexdigest()

        syn = _connect(emu, tmp_path)
        again = Project(name="persistent").store(synapse_client=syn)
        assert again.id == project.id
        fetched = File(id=stored.id, path=str(tmp_path / "download")).get(synapse_client=syn)
        assert Path(fetched.path).read_bytes() == data
        assert fetched.annotations["reads"] == [12]
        assert [c["status"] for c in emu.admin.calls() if c["path"].startswith(f"/_storage/download/{handle_id}/")] == [
            200], "the bytes came over HTTP from the restarted emulator, not from a client cache"

        (tmp_path / "new.bin").write_bytes(b"written after the restart")
        newer = File(path=str(tmp_path / "new.bin"), parent_id=folder.id).store(synapse_client=syn)
        newer_handle = emu.admin.entity(newer.id)["entity"]["dataFileHandleId"]
        assert newer.id not in before
        assert int(newer.id[3:]) > max(int(i[3:]) for i in before)
        assert int(newer_handle) > int(handle_id)
        assert sorted(emu.admin.entity(folder.id)["children"]) == sorted([stored.id, newer.id])
        assert emu.admin.file_content(newer_handle) == b"written after the restart"

        # The half-finished upload resumes: the client sends only the part the first run lacked.
        resumed = asyncio.run(multipart_upload_file_async(syn, str(tmp_path / "half.bin")))
        puts = [c["path"] for c in emu.admin.calls() if c["path"].startswith(f"/_storage/upload/{upload_id}/")]
        assert puts == [f"/_storage/upload/{upload_id}/2"]
        assert emu.admin.file_content(resumed) == big


def test_without_a_state_file_a_restart_starts_empty(tmp_path):
    with running_emulator(seed_users=[f"owner:{TOKEN}"]) as emu:
        syn = _connect(emu, tmp_path)
        Project(name="ephemeral").store(synapse_client=syn)
        assert emu.admin.state()["entity"] == 1
    with running_emulator(seed_users=[f"owner:{TOKEN}"]) as emu:
        assert emu.admin.state()["entity"] == 0


def test_module_prints_one_ready_line_and_seeds_users(tmp_path):
    command = [sys.executable, "-m", "synapse_emulator", "--host", "127.0.0.1", "--port", "0",
               "--seed-user", "cert_only:tok-cert:certified", "--seed-user", "everything:tok-all"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"synapse_emulator listening on http://(127\.0\.0\.1):(\d+)\n", line)
        assert match, line
        base = f"http://{match.group(1)}:{match.group(2)}"
        assert int(match.group(2)) > 0

        users = {u["userName"]: u for u in EmulatorAdmin(base).users()}
        assert (users["cert_only"]["certified"], users["cert_only"]["twoFactor"], users["cert_only"]["tos"]) == (
            True, False, False)
        assert (users["everything"]["certified"], users["everything"]["twoFactor"], users["everything"]["tos"]) == (
            True, True, True)
        assert all("token" not in u for u in users.values())

        def auth(path: str, token: str) -> httpx.Response:
            return httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})

        assert auth("/auth/v1/2fa", "tok-cert").json() == {"status": "DISABLED"}
        assert auth("/auth/v1/termsOfUse2/status", "tok-cert").json()["userCurrentTermsOfServiceState"] == (
            "MUST_AGREE_NOW")
        assert auth("/repo/v1/userProfile", "tok-cert").status_code == 403
        assert auth("/repo/v1/user/bundle?mask=8", "tok-all").json()["isCertified"] is True
        assert auth("/auth/v1/2fa", "tok-all").json() == {"status": "ENABLED"}
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=10)
    assert rest == "", "nothing but the ready line goes to stdout"


def test_bad_seed_user_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "synapse_emulator", "--port", "0", "--seed-user", "x:y:admin"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown user flag" in result.stderr
