"""The S3 part layout: every part but the last at least the minimum, every byte covered once,
every patched byte uploaded, and little else uploaded."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from htan_submission.phi.images.patches import Patch
from htan_submission.phi.images.s3_scrub import Copy, Upload, Window, layout_parts, window_steps

MIN = 100  # a small "5 MiB" so the properties are explored densely


@st.composite
def plans(draw) -> tuple[list[Patch], int]:
    size = draw(st.integers(MIN, 40 * MIN))
    starts = draw(st.lists(st.integers(0, size - 1), max_size=12, unique=True))
    patches, last_end = [], -1
    for start in sorted(starts):
        if start < last_end:
            continue
        length = draw(st.integers(1, max(1, min(3 * MIN, size - start))))
        patches.append(Patch(start, b"\x00" * length))
        last_end = start + length
    return patches, size


def _check_steps(window: Window) -> None:
    made = 0
    for step in window_steps(window, MIN):
        sizes = [made if piece is None else piece.end - piece.start for piece in step]
        assert all(size >= MIN for size in sizes[:-1]), "a non-last part under the minimum"
        assert (step[0] is None) == (made > 0)
        made = sum(sizes)
    assert made == window.end - window.start


@settings(max_examples=300, deadline=None)
@given(plans(), st.sampled_from([0, 1, 16]))
def test_parts_cover_the_object_within_s3_limits(plan, merge_gap):
    patches, size = plan
    parts = layout_parts(patches, size, min_part=MIN, merge_gap=merge_gap)
    assert parts[0].start == 0 and parts[-1].end == size
    for before, after in itertools.pairwise(parts):
        assert before.end == after.start
    for part in parts[:-1]:
        assert part.end - part.start >= MIN
    uploads = []
    for part in parts:
        if isinstance(part, Window):
            assert [p.end for p in part.pieces[:-1]] == [p.start for p in part.pieces[1:]]
            assert part.pieces[0].end - part.pieces[0].start >= MIN
            _check_steps(part)
            uploads += [p for p in part.pieces if isinstance(p, Upload)]
        elif isinstance(part, Upload):
            uploads.append(part)
        else:
            assert isinstance(part, Copy)
    for patch in patches:
        assert any(u.start <= patch.offset and patch.end <= u.end for u in uploads), "a patch not uploaded"
    uploaded = sum(u.end - u.start for u in uploads)
    patched = sum(len(p.data) for p in patches)
    assert uploaded <= patched + len(patches) * merge_gap + MIN


def test_edits_spread_over_a_big_object_upload_only_the_edits_and_the_head():
    mib = 1024 * 1024
    size = 4096 * mib
    patches = [Patch(8, b"x" * 300), Patch(1024 * mib, b"y" * 200), Patch(1024 * mib + 6 * mib, b"z" * 100),
               Patch(size - 50, b"w" * 40)]
    parts = layout_parts(patches, size)
    uploads = [p for part in parts for p in (part.pieces if isinstance(part, Window) else [part])
               if isinstance(p, Upload)]
    assert sum(u.end - u.start for u in uploads) == 5 * mib + 200 + 100 + 40
    assert len(parts) <= 8


def test_many_runs_close_together_become_one_upload_not_dozens_of_steps():
    patches = [Patch(50 * MIN + 3 * i, b"x") for i in range(40)]
    parts = layout_parts(patches, 100 * MIN, min_part=MIN, merge_gap=1)
    windows = [p for p in parts if isinstance(p, Window)]
    assert len(windows) == 1
    assert [type(p).__name__ for p in windows[0].pieces] == ["Copy", "Upload"]
    assert len(window_steps(windows[0], MIN)) == 1
