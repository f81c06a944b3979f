"""A 200,000-file batch plans into few enough chunks for Airflow to map the transfer over them.

Airflow fails the task that pushes a list longer than ``[core] max_map_length`` (1,024 by
default) for mapping. The plan cuts chunks at ``DEFAULT_CHUNK_FILES`` (500) files or
``DEFAULT_CHUNK_BYTES`` (20 GiB), whichever comes first, so 200,000 files need at least 400 chunks,
and more when the files are large: from an average of about 105 MiB per file (about 20 TiB in
all) the byte limit makes it more than 1,024 chunks. The listing is synthetic (no S3)."""

from __future__ import annotations

import math

import pytest

from htan_submission.transfer.keys import Batch
from htan_submission.transfer.plan import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_FILES, build_plan
from htan_submission.transfer.s3 import S3Object

FILES = 200_000
MiB = 1024**2
BATCH = Batch(bucket="htan-hta200-submissions", prefix="batches/big/")


def _listing(sizes: list[int]) -> tuple[list[S3Object], list[tuple]]:
    """Objects in three components' folders, each referenced by one manifest row."""
    components = ("scRNALevel1", "BulkWESLevel1", "MultiplexMicroscopyLevel2")
    objects, refs = [], []
    for i, size in enumerate(sizes):
        component = components[i % len(components)]
        relpath = f"{component}/sample_{i // 1000:03d}/file_{i:06d}.dat"
        objects.append(S3Object(key=BATCH.key(relpath), size=size, etag=f"{i:032x}"))
        refs.append((component, f"{component}.csv", i // len(components) + 2, relpath))
    return objects, refs


def _mixed_sizes() -> list[int]:
    """Deterministic, log-spread from 1 KiB to 64 MiB (a big batch is mostly small files)."""
    return [1024 * 2 ** ((i * 7919) % 17) for i in range(FILES)]


@pytest.fixture(scope="module")
def max_map_length() -> int:
    from airflow.configuration import conf

    return conf.getint("core", "max_map_length")


def test_a_200000_file_batch_maps_within_max_map_length(max_map_length):
    objects, refs = _listing(_mixed_sizes())
    plan = build_plan(BATCH, objects, refs, ingest_folder="v1_ingest")
    assert plan.errors == 0 and plan.files == FILES
    assert len(plan.chunks) <= max_map_length, (len(plan.chunks), max_map_length)
    assert len(plan.chunks) >= math.ceil(FILES / DEFAULT_CHUNK_FILES)
    assert all(len(c.files) <= DEFAULT_CHUNK_FILES and c.bytes <= DEFAULT_CHUNK_BYTES for c in plan.chunks)
    assert len({f.key for c in plan.chunks for f in c.files}) == FILES  # every file once


def test_the_byte_limit_sets_the_ceiling_on_file_size(max_map_length):
    """The largest average file size that still fits: 20 GiB / files-per-chunk, where
    files-per-chunk = ceil(200,000 / max_map_length). Above it the default chunking exceeds
    max_map_length (the numbers reported to the transfer owner)."""
    per_chunk = math.ceil(FILES / max_map_length)  # 196 files per chunk for 1,024 chunks
    largest = DEFAULT_CHUNK_BYTES // per_chunk // MiB  # whole MiB that still fit
    fits = build_plan(BATCH, *_listing([largest * MiB] * FILES), ingest_folder="v1_ingest")
    too_big = build_plan(BATCH, *_listing([(largest + 1) * MiB] * FILES), ingest_folder="v1_ingest")
    assert len(fits.chunks) <= max_map_length < len(too_big.chunks)
    if max_map_length == 1024:  # Airflow's default: the figures in the module docstring
        assert (per_chunk, largest, len(fits.chunks), len(too_big.chunks)) == (196, 104, 1021, 1026)
