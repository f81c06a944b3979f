"""Bench: our S3 -> Synapse transfer against what a user would write today.

Starts moto S3 and the Synapse emulator itself, fills a bucket, and runs each scenario in a
child process of its own (so peak RSS is the scenario's):

- copy mode, N x 1 MiB and M x 256 MiB: ours (``transfer_chunk``) vs the baseline (boto3
  downloads to a temporary directory with 8 threads, then ``synapseutils.syncToSynapse`` with a
  manifest, messages off): wall seconds, ratio, peak RSS, REST calls per file;
- index mode for the same N files: files/s and REST calls per file (no baseline: synapseclient
  cannot register an object it has no local copy of);
- the emulator enforcing Synapse's throttles (3 in flight, 600 requests/min): files/min of ours
  (with its limiter) and the baseline, on a subset (a rate needs no 1,000 files).

REST calls are counted by the emulator (its call log, per user), storage PUTs excluded. Prints
figures and asserts nothing. ``--quick`` shrinks every count so it runs in a couple of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
REST_PREFIXES = ("/repo/v1", "/file/v1", "/auth/v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts (a couple of minutes)")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)  # a child: its config (with a token) on stdin
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, json.loads(sys.stdin.read()))), flush=True)
        return
    # Throttles: Synapse's 600 requests per 60 s; --quick scales the window to 60 per 6 s (the same
    # 10/s) so that a short run measures the steady rate, not the first minute's allowance.
    sizes = ({"small": 100, "large": 2, "large_mib": 64, "throttled": 60, "window": (60, 6)} if args.quick else
             {"small": 1000, "large": 4, "large_mib": 256, "throttled": 300, "window": (600, 60)})
    bench(sizes)


# --- the parent: servers, data, scenarios, the table -----------------------------------------------

def bench(sizes: dict) -> None:
    from htan_submission.dev.moto_s3 import TEST_CREDENTIALS, running_moto
    from synapse_emulator.launch import running_emulator

    os.environ.update({k: os.environ.get(k, v) for k, v in TEST_CREDENTIALS.items()})
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp, \
            running_moto(log_file=f"{tmp}/moto.log") as moto, \
            running_emulator(s3_endpoint_url=moto.endpoint_url, log_file=f"{tmp}/emulator.log") as emulator:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3 = moto.client()
        s3.create_bucket(Bucket=bucket)
        started = time.perf_counter()
        small = _fill(s3, bucket, "batches/small/", sizes["small"], MIB)
        large = _fill(s3, bucket, "batches/large/", sizes["large"], sizes["large_mib"] * MIB)
        print(f"filled s3://{bucket}: {sizes['small']} x 1 MiB and {sizes['large']} x {sizes['large_mib']} MiB "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        common = {"moto": moto.endpoint_url, "synapse": emulator.base_url, "bucket": bucket}
        runs = {}
        plan = [
            ("copy small ours", "ours", {"mode": "copy", "prefix": "batches/small/", "files": small}),
            ("copy small baseline", "baseline", {"prefix": "batches/small/", "files": small}),
            ("copy large ours", "ours", {"mode": "copy", "prefix": "batches/large/", "files": large}),
            ("copy large baseline", "baseline", {"prefix": "batches/large/", "files": large}),
            ("index small ours", "ours", {"mode": "index", "prefix": "batches/small/", "files": small}),
        ]
        for label, kind, config in plan:
            runs[label] = _scenario(emulator, kind, {**common, **config})
        subset = small[:sizes["throttled"]]
        requests, window = sizes["window"]
        limits = {"max_in_flight": 3, "requests_per_period": requests, "period_s": window,
                  "burst": max(1, requests // 60)}
        try:
            for label, kind, config in [
                ("throttled copy ours", "ours", {"mode": "copy", "files": subset, "limits": limits}),
                ("throttled index ours", "ours", {"mode": "index", "files": subset, "limits": limits}),
                ("throttled copy baseline", "baseline", {"files": subset}),
            ]:
                emulator.admin.set_throttle(max_concurrent=3, max_requests=requests, window_s=window)  # fresh
                runs[label] = _scenario(emulator, kind, {**common, "prefix": "batches/small/", **config})
                runs[label]["refused"] = emulator.admin.throttle()["refused"]
        finally:
            emulator.admin.clear_throttle()
        _print(runs, sizes)


def _fill(s3, bucket: str, prefix: str, count: int, size: int) -> list[str]:
    names = [f"f{i:05d}.bin" for i in range(count)]
    block = os.urandom(size)

    def put(i_name: tuple[int, str]) -> None:
        i, name = i_name
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=i.to_bytes(8, "big") + block[8:])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, enumerate(names)))
    return names


def _scenario(emulator, kind: str, config: dict) -> dict:
    """Seed a center of its own for the scenario, run it in a child process, count its calls."""
    from htan_submission.config import Center, S3Location
    from htan_submission.dev.demo_world import seed_center

    user = f"bench_{uuid.uuid4().hex[:8]}"
    token = f"tok-{uuid.uuid4().hex}"
    owner_id = emulator.admin.add_user(user, token)["ownerId"]
    center = Center(center_id="HTA200", name="bench", synapse_project_id=f"syn{80000000 + int(owner_id) % 10**6}",
                    s3=S3Location(bucket=config["bucket"], prefix="batches/"))
    seeded = seed_center(emulator.admin, center, submitter=user)
    config = {**config, "token": token, "user": user, "project": center.synapse_project_id,
              "folder": seeded.folders["v1_ingest/scRNA_seq/Level_1"]}
    command = [sys.executable, __file__, "--scenario", kind]
    started = time.time()
    done = subprocess.run(command, input=json.dumps(config), capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"scenario {kind} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    calls = [c for c in emulator.admin.calls()
             if c["time"] >= started and c.get("user") == owner_id and c["path"].startswith(REST_PREFIXES)]
    timed = [c for c in calls if c["time"] >= result["timed_from"]]
    result["rest_per_file"] = len(timed) / len(config["files"])
    result["files"] = len(config["files"])
    return result


def _print(runs: dict, sizes: dict) -> None:
    n, m, mib = sizes["small"], sizes["large"], sizes["large_mib"]
    print("\ncopy mode (emulator unthrottled; ours without its client limiter)")
    print(f"{'':26} {'ours':>10} {'baseline':>10} {'ratio':>7}   {'peak RSS ours/base':>20}   "
          f"{'REST calls/file ours/base':>26}")
    for label, title in (("copy small", f"{n} x 1 MiB"), ("copy large", f"{m} x {mib} MiB")):
        ours, base = runs[f"{label} ours"], runs[f"{label} baseline"]
        print(f"{title:26} {ours['seconds']:9.1f}s {base['seconds']:9.1f}s {base['seconds'] / ours['seconds']:6.2f}x"
              f"   {ours['peak_rss_mib']:8.0f} / {base['peak_rss_mib']:<8.0f} MiB"
              f"   {ours['rest_per_file']:11.2f} / {base['rest_per_file']:<11.2f}")
    index = runs["index small ours"]
    print(f"\nindex mode, {n} x 1 MiB: {index['seconds']:.1f} s, {index['files'] / index['seconds']:.0f} files/s, "
          f"{index['rest_per_file']:.2f} REST calls/file, peak RSS {index['peak_rss_mib']:.0f} MiB")
    requests, window = sizes["window"]
    print(f"\nemulator enforcing Synapse's throttles (3 in flight, {requests} requests per {window} s), "
          f"{sizes['throttled']} x 1 MiB; ours with its client limiter at the same limits")
    for label in ("throttled copy ours", "throttled index ours", "throttled copy baseline"):
        run = runs[label]
        print(f"  {label:26} {60 * run['files'] / run['seconds']:7.0f} files/min  ({run['seconds']:.0f} s, "
              f"{run['rest_per_file']:.2f} REST calls/file, {run['refused']} requests refused with 429)")


# --- the children -------------------------------------------------------------------------------------

def run_scenario(kind: str, config: dict) -> dict:
    os.environ["AWS_ENDPOINT_URL"] = config["moto"]
    result = _ours(config) if kind == "ours" else _baseline(config)
    result["peak_rss_mib"] = _peak_rss_mib()
    return result


def _peak_rss_mib() -> float:
    """This process's peak RSS. ``VmHWM``, not ``ru_maxrss``: Linux carries ru_maxrss over from the
    parent across fork and exec, so every child would report at least the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(config: dict) -> dict:
    from htan_submission.config import Center, S3Location
    from htan_submission.synapse.client import SynapseTarget
    from htan_submission.synapse.files import SynapseFiles
    from htan_submission.synapse.throttle import Limiter, Limits
    from htan_submission.transfer import FileRef, TransferTarget, plan_batch, register_storage, transfer_chunk
    from htan_submission.transfer.s3 import s3_client

    unlimited = Limits(max_in_flight=3, requests_per_period=10**9, period_s=60, burst=10**6)
    limiter = Limiter(Limits(**config["limits"]) if config.get("limits") else unlimited)
    files = SynapseFiles.login(SynapseTarget(endpoint=config["synapse"], token=config["token"]), limiter=limiter)
    s3 = s3_client(max_pool_connections=40)
    center = Center(center_id="HTA200", name="bench", synapse_project_id=config["project"],
                    s3=S3Location(bucket=config["bucket"], prefix="batches/"))
    if config["mode"] == "index":
        register_storage(center, files, s3)
    refs = [FileRef("scRNALevel1", "bench.csv", i + 2, name) for i, name in enumerate(config["files"])]
    started, timed_from = time.perf_counter(), time.time()
    plan = plan_batch(f"s3://{config['bucket']}/{config['prefix']}", refs, ingest_folder="v1_ingest", s3=s3,
                      max_chunk_files=10_000)
    planned = time.perf_counter() - started
    target = TransferTarget.for_center(center)
    results = [transfer_chunk(chunk, target, config["mode"], synapse=files, s3=s3) for chunk in plan.chunks]
    seconds = time.perf_counter() - started
    created = sum(r.counts["created"] for r in results)
    if created != len(config["files"]):
        raise RuntimeError(f"only {created} of {len(config['files'])} files created: "
                           f"{[f.message for r in results for f in r.findings][:5]}")
    return {"seconds": seconds, "timed_from": timed_from, "plan_seconds": planned}


def _baseline(config: dict) -> dict:
    """What a user writes today: download the batch, then let synapseclient sync a manifest."""
    import boto3
    import synapseutils

    from htan_submission.synapse.client import SynapseTarget, connect

    syn = connect(SynapseTarget(endpoint=config["synapse"], token=config["token"]))
    s3 = boto3.client("s3", endpoint_url=config["moto"])
    started, timed_from = time.perf_counter(), time.time()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        def download(name: str) -> str:
            path = os.path.join(tmp, name)
            s3.download_file(config["bucket"], config["prefix"] + name, path)
            return path

        with ThreadPoolExecutor(8) as pool:
            paths = list(pool.map(download, config["files"]))
        manifest = os.path.join(tmp, "manifest.tsv")
        with open(manifest, "w") as handle:
            handle.write("path\tparent\n")
            handle.writelines(f"{path}\t{config['folder']}\n" for path in paths)
        synapseutils.syncToSynapse(syn, manifest, sendMessages=False)
    return {"seconds": time.perf_counter() - started, "timed_from": timed_from}


if __name__ == "__main__":
    main()
