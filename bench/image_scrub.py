"""Bench: in-place header scrub vs a full rewrite of an SVS-like slide, and bytes moved in S3.

For each size it writes an SVS-like pyramidal TIFF with planted PHI (tifffile, tiled, from a
pool of random tiles), then times
- our in-place scrub (plan + overwrite + fsync + re-read to verify), and
- a full rewrite of the same file (tifffile reads every page tile by tile and writes a new file,
  fsynced), which is what whole-file cleaners do;
and, against moto's S3 server started here, the bytes our S3 scrub downloads and uploads
(server-side copies excluded). Prints figures, asserts nothing.

    python bench/image_scrub.py                 # 1 and 4 GiB (needs ~2x the size in free disk)
    python bench/image_scrub.py --sizes 1       # GiB
    python bench/image_scrub.py --quick         # 64 MiB, a smoke run
    python bench/image_scrub.py --s3-max-gib 1  # S3 part only up to this size (moto keeps parts in memory)

Goals from the issue: in-place >= 500x faster than a rewrite at 1 GiB; < 16 MiB through us in S3.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

MIB = 1024 * 1024
GIB = 1024 * MIB


def make_slide(path: Path, size_bytes: int, tile: int = 512) -> Path:
    from htan_submission.dev.phi_images import make_svs

    base = size_bytes * 3 / 4  # the reduced levels add about a third
    side = max(tile, int(math.sqrt(base / 3)) // tile * tile)
    make_svs(path, width=side, height=side, tile=tile, levels=4, bigtiff=size_bytes > 3 * GIB)
    _fsync(path)
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def full_rewrite(src: Path, dst: Path) -> None:
    """Read every page and write it again (tile by tile, so memory stays small)."""
    import tifffile

    with tifffile.TiffFile(src) as tf, tifffile.TiffWriter(dst, bigtiff=src.stat().st_size > 3 * GIB) as tw:
        for page in tf.pages:
            common = {"description": page.description, "metadata": None, "photometric": page.photometric,
                      "subfiletype": page.subfiletype, "software": "rewrite"}
            if page.is_tiled:
                tl, tw_ = page.tilelength, page.tilewidth
                tiles = (seg.reshape(tl, tw_, -1) for seg, _index, _shape in page.segments())
                tw.write(tiles, shape=page.shape, dtype=page.dtype, tile=(tl, tw_), **common)
            else:
                tw.write(page.asarray(), **common)
    _fsync(dst)


def time_in_place(path: Path) -> tuple[float, int]:
    from htan_submission.phi.images import scrub_images

    start = time.perf_counter()
    report = scrub_images([path], in_place=True)
    elapsed = time.perf_counter() - start
    if report.errors:
        raise SystemExit(f"in-place scrub failed: {report.summary()}")
    return elapsed, report.extra["bytes_written"]


def s3_figures(path: Path) -> dict:
    """Upload to moto's S3 server, scrub there, check the result equals the local scrub."""
    from htan_submission.dev.moto_s3 import running_moto

    with tempfile.TemporaryDirectory() as logs, running_moto(log_file=os.path.join(logs, "moto.log")) as moto:
        client = moto.client()
        client.create_bucket(Bucket="bench")
        client.upload_file(str(path), "bench", "slide.svs")
        figures = _scrub_s3(client, "bench", "slide.svs")
        figures["result"] = _digest_s3(client, "bench", "slide.svs")
    figures["where"] = "moto"
    return figures


def _scrub_s3(client, bucket: str, key: str) -> dict:
    from htan_submission.phi.images import scrub_s3_object

    start = time.perf_counter()
    result = scrub_s3_object(client, bucket, key)
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"S3 scrub failed: {[f.rule for f in result.findings if f.severity == 'error']}")
    return {"down": result.bytes_downloaded, "up": result.bytes_uploaded, "copied": result.bytes_copied_server_side,
            "parts": result.parts, "seconds": elapsed}


def _digest_s3(client, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(8 * MIB):
        digest.update(chunk)
    return digest.hexdigest()


class StandInS3:
    """For sizes moto cannot hold (its CompleteMultipartUpload builds the object in memory and
    fails at 4 GiB): the S3 calls our scrub makes, over local files, with S3's part-size rule
    enforced. Objects are files; a completed upload is assembled on disk from its parts."""

    def __init__(self, root: Path):
        self.root = root
        self.uploads: dict[str, list] = {}

    def _path(self, key: str) -> Path:
        return self.root / key.replace("/", "__")

    def head_object(self, Bucket, Key):
        return {"ContentLength": self._path(Key).stat().st_size, "ETag": '"stand-in"'}

    def get_object(self, Bucket, Key, Range=None, **_):
        import io

        start, end = (int(x) for x in Range.split("=")[1].split("-"))
        with open(self._path(Key), "rb") as handle:
            handle.seek(start)
            return {"Body": io.BytesIO(handle.read(end - start + 1))}

    def create_multipart_upload(self, Bucket, Key, **_):
        upload_id = f"u{len(self.uploads)}"
        self.uploads[upload_id] = []
        return {"UploadId": upload_id}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body):
        self.uploads[UploadId].append(("bytes", Body))
        return {"ETag": f"p{PartNumber}"}

    def upload_part_copy(self, Bucket, Key, UploadId, PartNumber, CopySource, CopySourceRange, **_):
        start, end = (int(x) for x in CopySourceRange.split("=")[1].split("-"))
        self.uploads[UploadId].append(("copy", CopySource["Key"], start, end + 1))
        return {"CopyPartResult": {"ETag": f"p{PartNumber}"}}

    def complete_multipart_upload(self, Bucket, Key, UploadId, MultipartUpload):
        parts = self.uploads.pop(UploadId)
        sizes = [len(p[1]) if p[0] == "bytes" else p[3] - p[2] for p in parts]
        if any(size < 5 * MIB for size in sizes[:-1]):
            raise ValueError("EntityTooSmall")
        tmp = self._path(Key).with_suffix(".assembling")
        with open(tmp, "wb") as out:
            for part in parts:
                if part[0] == "bytes":
                    out.write(part[1])
                    continue
                with open(self._path(part[1]), "rb") as src:
                    src.seek(part[2])
                    remaining = part[3] - part[2]
                    while remaining:
                        chunk = src.read(min(remaining, 64 * MIB))
                        out.write(chunk)
                        remaining -= len(chunk)
        os.replace(tmp, self._path(Key))

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self.uploads.pop(UploadId, None)

    def delete_object(self, Bucket, Key):
        self._path(Key).unlink(missing_ok=True)

    def put_object(self, Bucket, Key, Body, **_):
        self._path(Key).write_bytes(Body)


def s3_figures_stand_in(path: Path, tmp: Path) -> dict:
    root = tmp / "s3"
    root.mkdir()
    shutil.copy(path, root / "slide.svs")
    client = StandInS3(root)
    figures = _scrub_s3(client, "bench", "slide.svs")
    figures["result"] = _sha256(root / "slide.svs")
    shutil.rmtree(root)
    figures["where"] = "stand-in"
    return figures


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4", help="slide sizes in GiB, comma-separated (default 1,4)")
    parser.add_argument("--quick", action="store_true", help="one 64 MiB slide (smoke run)")
    parser.add_argument("--s3-max-gib", type=float, default=1.5,
                        help="use moto's S3 server up to this size (it holds objects in memory and cannot complete "
                             "a 4 GiB multipart upload); above it, an in-process stand-in that counts the same calls")
    parser.add_argument("--no-rewrite", action="store_true", help="skip the full-rewrite timing")
    parser.add_argument("--tmp", help="directory for the slides (default: system temp)")
    args = parser.parse_args()
    sizes = [64 * MIB] if args.quick else [int(float(s) * GIB) for s in args.sizes.split(",")]

    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            slide = Path(tmp) / "slide.svs"
            start = time.perf_counter()
            make_slide(slide, size)
            made = time.perf_counter() - start
            actual = slide.stat().st_size
            print(f"slide {actual / GIB:.2f} GiB written in {made:.1f} s", flush=True)

            s3 = s3_figures(slide) if size <= args.s3_max_gib * GIB else s3_figures_stand_in(slide, Path(tmp))
            rewrite = None
            if not args.no_rewrite:
                start = time.perf_counter()
                full_rewrite(slide, Path(tmp) / "rewritten.svs")
                rewrite = time.perf_counter() - start
                (Path(tmp) / "rewritten.svs").unlink()
            in_place, written = time_in_place(slide)
            s3["same_as_local"] = s3.pop("result") == _sha256(slide)
            rows.append((actual, in_place, written, rewrite, s3))
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{'size':>9} | {'in-place':>9} | {'written':>8} | {'rewrite':>8} | {'speed-up':>8} | "
          f"{'S3 down':>8} | {'S3 up':>8} | {'S3 total':>8} | {'copied':>8} | parts | S3 via   | = local")
    for actual, in_place, written, rewrite, s3 in rows:
        ratio = f"{rewrite / in_place:7.0f}x" if rewrite else "       -"
        rewrite_s = f"{rewrite:7.2f}s" if rewrite else "       -"
        print(f"{actual / GIB:7.2f}Gi | {in_place * 1000:7.1f}ms | {written / 1024:6.1f}Ki | {rewrite_s} | {ratio} | "
              f"{s3['down'] / MIB:6.2f}Mi | {s3['up'] / MIB:6.2f}Mi | {(s3['down'] + s3['up']) / MIB:6.2f}Mi | "
              f"{s3['copied'] / MIB:6.0f}Mi | {s3['parts']:5d} | {s3['where']:8} | {s3['same_as_local']}")

if __name__ == "__main__":
    main()
