"""Bench: REST calls per file and throughput of the real synapseclient against the emulator.

Prints figures, asserts nothing. The emulator counts every call it serves (its call log), so
"calls per file" is measured, not estimated. Run: ``make bench``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import Counter

from htan_submission.synapse.client import SynapseTarget, connect
from synapse_emulator.launch import running_emulator

SMALL_FILES = int(os.environ.get("BENCH_SMALL_FILES", "50"))
LARGE_MIB = int(os.environ.get("BENCH_LARGE_MIB", "64"))


def main() -> None:
    from synapseclient.models import File, Folder, Project

    with running_emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        emulator.admin.add_user("bench", "bench-token")
        syn = connect(SynapseTarget(endpoint=emulator.base_url, token="bench-token"), cache_dir=tmp)
        project = Project(name="bench").store(synapse_client=syn)
        folder = Folder(name="small", parent_id=project.id).store(synapse_client=syn)

        paths = []
        for i in range(SMALL_FILES):
            path = os.path.join(tmp, f"f{i}.txt")
            with open(path, "wb") as handle:
                handle.write(os.urandom(1024))
            paths.append(path)
        emulator.admin.clear_calls()
        start = time.perf_counter()
        for i, path in enumerate(paths):
            File(path=path, parent_id=folder.id, annotations={"index": [i]}).store(synapse_client=syn)
        elapsed = time.perf_counter() - start
        calls = emulator.admin.calls()
        by_route = Counter(f"{c['method']} {c['route']}" for c in calls)
        print(f"File.store of {SMALL_FILES} x 1 KiB: {elapsed:.2f} s, {SMALL_FILES / elapsed:.1f} files/s, "
              f"{len(calls) / SMALL_FILES:.1f} REST calls per file")
        for route, count in by_route.most_common():
            print(f"  {count / SMALL_FILES:5.2f}/file  {route}")

        large = os.path.join(tmp, "large.bin")
        digest = hashlib.md5()
        with open(large, "wb") as handle:
            for _ in range(LARGE_MIB):
                chunk = os.urandom(1024 * 1024)
                digest.update(chunk)
                handle.write(chunk)
        start = time.perf_counter()
        stored = File(path=large, parent_id=project.id).store(synapse_client=syn)
        elapsed = time.perf_counter() - start
        landed = emulator.admin.file_handle(stored.data_file_handle_id)
        print(f"File.store of 1 x {LARGE_MIB} MiB (multipart, 8 MiB parts): {elapsed:.2f} s, "
              f"{LARGE_MIB / elapsed:.1f} MiB/s, stored MD5 matches: {landed['storedMd5'] == digest.hexdigest()}")


if __name__ == "__main__":
    main()
