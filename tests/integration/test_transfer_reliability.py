"""Reliability: injected faults, throttles, and runs killed at any point must all end with every
file present exactly once, with the right bytes and no second version.

Fault rules are read back (``fired``) so a test cannot pass because a fault never matched. The
kill tests stop a run for real: once from a progress hook, once with SIGKILL on the CLI process
(synchronised on its per-file log lines, not on time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from htan_submission.synapse.throttle import Limiter, Limits
from htan_submission.transfer import TransferOptions, transfer_chunk
from tests.integration.test_transfer_world import actions, make_world, md5, write_centers_file

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]
MIB = 1024 * 1024
OPTIONS = TransferOptions(part_size=5 * MIB, memory_budget=20 * MIB)
REST = r"^/(repo|file)/v1/"


@pytest.fixture
def throttled(emulator):
    yield emulator.admin
    emulator.admin.clear_throttle()


def _fired(admin, rule: dict) -> int:
    return next(r["fired"] for r in admin.faults() if r["id"] == rule["id"])


def _run(world, mode: str, plan=None, **kwargs):
    plan = plan or world.plan()
    kwargs.setdefault("options", OPTIONS)
    return [transfer_chunk(c, world.target(), mode, synapse=world.files, s3=world.s3, **kwargs) for c in plan.chunks]


def _assert_exactly_once(world, mode: str) -> None:
    """Every planned file is in its folder once (``listing`` refuses duplicates), at version 1,
    with the MD5 of its bytes; nothing else is there."""
    expected: dict[str, dict[str, bytes]] = {}
    for ref in world.refs:
        module = {"scRNALevel1": "scRNA_seq/Level_1", "BulkWESLevel2": "WES/Level_2"}[ref.component]
        expected.setdefault(module, {})[ref.filename.rsplit("/", 1)[-1]] = world.data[ref.filename]
    for module, files in expected.items():
        stored = world.listing(module)
        assert sorted(stored) == sorted(files)
        for name, data in files.items():
            assert stored[name]["entity"]["versionNumber"] == 1, name
            assert stored[name]["handle"]["fileHandle"]["contentMd5"] == md5(data), name
            if mode == "copy":
                assert stored[name]["handle"]["storedMd5"] == md5(data), name


def _populate(world, small: int, big: bool = False) -> None:
    for i in range(small):
        world.put(f"data/f{i:02d}.fastq", size=700 + i)
    if big:
        world.put("wes/big.bam", component="BulkWESLevel2", size=11 * MIB)


@pytest.mark.parametrize("mode", ["index", "copy"])
def test_every_file_lands_once_through_a_fifth_of_calls_failing(emulator, moto_s3, make_user, faults, mode):
    world = make_world(emulator, moto_s3, make_user)
    if mode == "index":
        world.register()
    _populate(world, small=16, big=True)
    plan = world.plan()
    rules = [faults.add_fault(REST, status=429, retryAfter=1, rate=0.1),
             faults.add_fault(REST, status=503, rate=0.1),
             faults.add_fault(r"^/repo/v1/entity/bundle2/create$", status=503, after=True, count=3)]
    results = _run(world, mode, plan)
    fired = [_fired(emulator.admin, rule) for rule in rules]
    faults.clear_faults()
    assert actions(results) == {"created": 17}, [f.message for r in results for f in r.findings]
    assert fired[2] == 3, fired  # three creates committed but answered 503: their retries met 409s
    assert sum(fired[:2]) >= 0.05 * sum(r.rest_calls for r in results), fired  # about a fifth (19%) failed
    _assert_exactly_once(world, mode)


def test_a_post_that_committed_before_its_answer_was_lost_is_reconciled(emulator, moto_s3, make_user, faults):
    world = make_world(emulator, moto_s3, make_user)
    _populate(world, small=6, big=True)
    world.files.rest.syn.restDELETE(f"/entity/{world.folder('WES')}")  # WES/Level_2 must be created again
    folder = faults.add_fault(r"^/repo/v1/entity$", method="POST", status=503, after=True, count=2)
    rule = faults.add_fault(r"^/repo/v1/entity/bundle2/create$", status=503, after=True, count=3)
    drop = faults.add_fault(r"^/file/v1/file/multipart/\d+/complete$", action="drop", after=True, count=2)
    results = _run(world, "copy")
    assert [_fired(emulator.admin, r) for r in (folder, rule, drop)] == [2, 3, 2]
    assert actions(results) == {"created": 7}  # the 409s of the retried POSTs were ours: created, not conflicts
    assert all(f.entity_id for r in results for f in r.files)
    ingest = emulator.admin.entity(world.seeded.ingest_folder_id)["children"]
    assert [emulator.admin.entity(c)["entity"]["name"] for c in ingest].count("WES") == 1
    world.seeded.folders["v1_ingest/WES/Level_2"] = _child(emulator, _child(emulator, ingest, "WES"), "Level_2")
    _assert_exactly_once(world, "copy")


def _child(emulator, parent: str | list[str], name: str) -> str:
    """The id of the entity called ``name`` among a parent's children (or a list of ids)."""
    children = parent if isinstance(parent, list) else emulator.admin.entity(parent)["children"]
    return next(c for c in children if emulator.admin.entity(c)["entity"]["name"] == name)


@pytest.mark.parametrize("mode", ["index", "copy"])
def test_a_run_stopped_mid_chunk_and_rerun_ends_with_each_file_once(emulator, moto_s3, make_user, mode):
    world = make_world(emulator, moto_s3, make_user)
    if mode == "index":
        world.register()
    _populate(world, small=20, big=True)
    plan = world.plan()
    landed = []

    class Killed(Exception):
        pass

    def kill_after_five(outcome):
        landed.append(outcome)
        if len(landed) == 5:
            raise Killed()

    with pytest.raises(Killed):
        _run(world, mode, plan, on_file=kill_after_five)
    total = sum(len(world.listing(m)) for m in ("scRNA_seq/Level_1", "WES/Level_2"))
    assert 5 <= total < 21
    again = _run(world, mode, plan)
    counted = actions(again)
    assert counted["created"] + counted["skipped"] == 21 and counted["skipped"] >= 5
    _assert_exactly_once(world, mode)
    assert actions(_run(world, mode, plan)) == {"skipped": 21}


def test_a_cli_run_killed_with_sigkill_and_rerun_ends_with_each_file_once(emulator, moto_s3, make_user, tmp_path):
    world = make_world(emulator, moto_s3, make_user)
    _populate(world, small=12, big=True)
    manifest = "Component,FILENAME\n" + "".join(f"{r.component},{r.filename}\n" for r in world.refs)
    world.s3.put_object(Bucket=world.bucket, Key=world.batch_prefix + "manifest.csv", Body=manifest.encode())
    centers = write_centers_file(world, tmp_path, transfer_mode="copy")
    env = {**os.environ, "HTAN_CENTERS_FILE": str(centers), "SYNAPSE_AUTH_TOKEN": world.user.token,
           "HTAN_SYNAPSE_ENDPOINT": emulator.base_url, "AWS_ENDPOINT_URL": moto_s3.endpoint_url}
    command = [str(Path(sys.executable).with_name("htan-submit")), "transfer", "--center", world.center.center_id,
               "--batch", world.batch_url, "-v", "--workers", "4"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    created = 0
    try:
        for line in process.stderr:
            created += ": created " in line
            if created == 4:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(30)
        process.stderr.close()
    assert created == 4 and process.returncode == -signal.SIGKILL
    assert sum(len(world.listing(m)) for m in ("scRNA_seq/Level_1", "WES/Level_2")) < 13
    report = tmp_path / "report.json"
    rerun = subprocess.run([*command, "--json", str(report)], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "skipped" in rerun.stdout
    _assert_exactly_once(world, "copy")


def test_the_emulator_throttles_per_user_with_retry_after_when_switched_on(emulator, make_user, throttled):
    import httpx

    first, second = make_user(), make_user()
    url = f"{emulator.base_url}/repo/v1/userProfile"
    throttled.set_throttle(max_concurrent=3, max_requests=3, window_s=60)
    answers = [httpx.get(url, headers={"Authorization": f"Bearer {first.token}"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "3 requests every 60 seconds" in answers[-1].json()["reason"]
    assert 50 <= int(answers[-1].headers["retry-after"]) <= 60
    assert httpx.get(url, headers={"Authorization": f"Bearer {second.token}"}).status_code == 200
    assert httpx.get(f"{emulator.base_url}/_emulator/health").status_code == 200  # the admin API is exempt
    assert throttled.throttle()["refused"] == 1
    throttled.clear_throttle()
    assert throttled.throttle()["enabled"] is False
    assert httpx.get(url, headers={"Authorization": f"Bearer {first.token}"}).status_code == 200


def test_synapse_throttles_are_honoured_and_every_file_lands(emulator, moto_s3, make_user, throttled):
    """A client that ignores the limits (unlimited limiter, 8 workers) is refused with 429s and
    still lands every file; one that uses Synapse's limits is hardly ever refused."""
    greedy = make_world(emulator, moto_s3, make_user)
    _populate(greedy, small=20)
    throttled.set_throttle(max_concurrent=3, max_requests=40, window_s=4)
    results = _run(greedy, "copy", options=TransferOptions(workers=8))
    greedy_refused = throttled.throttle()["refused"]
    assert actions(results) == {"created": 20}
    assert greedy_refused > 0
    _assert_exactly_once(greedy, "copy")

    polite = make_world(emulator, moto_s3, make_user,
                        limiter=Limiter(Limits(max_in_flight=3, requests_per_period=40, period_s=4, burst=4)))
    _populate(polite, small=20)
    throttled.set_throttle(max_concurrent=3, max_requests=40, window_s=4)  # resets the counters
    results = _run(polite, "copy", options=TransferOptions(workers=8))
    polite_refused = throttled.throttle()["refused"]
    assert actions(results) == {"created": 20}
    assert polite_refused <= 0.05 * results[0].rest_calls, (polite_refused, results[0].rest_calls)
    _assert_exactly_once(polite, "copy")
