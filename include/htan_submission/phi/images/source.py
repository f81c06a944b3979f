"""Random-access byte sources: a local file, bytes in memory, or an S3 object read by ranges.

Every header parser in this package reads through ``ByteSource.read(offset, size)`` and nothing
else, so one parser serves local files and S3 objects alike, and on S3 the bytes we read are the
bytes we pay for: a whole-slide image is never downloaded to look at its header.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from typing import Protocol


class UnreadableImage(Exception):
    """The file cannot be parsed safely. The message names the structure, never a value."""


class ByteSource(Protocol):
    size: int

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; fewer only at the end of the data."""
        ...


def read_exact(source: ByteSource, offset: int, size: int, what: str) -> bytes:
    """Read exactly ``size`` bytes or raise ``UnreadableImage`` naming ``what``.

    The bound is checked against the source size *before* reading, so a tag that declares a
    2 GB value in a 1 MB file costs nothing: no allocation, no request.
    """
    if offset < 0 or size < 0 or offset + size > source.size:
        raise UnreadableImage(f"{what} points past the end of the file")
    data = source.read(offset, size)
    if len(data) != size:
        raise UnreadableImage(f"{what} is truncated")
    return data


class FileSource:
    """A local file opened read-only; ``pread`` so no shared file position to get wrong."""

    def __init__(self, path: str | os.PathLike):
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        chunks = []
        while size > 0:
            chunk = os.pread(self._fd, size, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemorySource:
    """Bytes in memory (small S3 objects, tests)."""

    def __init__(self, data: bytes):
        self._data = data
        self.size = len(data)

    def read(self, offset: int, size: int) -> bytes:
        return self._data[offset: offset + max(0, size)]


class CachedRangeSource:
    """Reads an S3 object by ranged GETs through a small read-ahead block cache.

    TIFF headers are many tiny reads close together (an IFD, then its values right after it), so
    reads are rounded up to ``block`` bytes and the last ``max_blocks`` blocks are kept. Reads
    larger than a block go straight to S3 and are not cached. ``bytes_downloaded`` counts what
    actually crossed the network. ``if_match`` pins every read to one version of the object.
    """

    def __init__(self, client, bucket: str, key: str, size: int, etag: str | None = None,
                 block: int = 64 * 1024, max_blocks: int = 64):
        self.client, self.bucket, self.key, self.size, self.etag = client, bucket, key, size, etag
        self.block, self.max_blocks = block, max_blocks
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self.bytes_downloaded = 0
        self.requests = 0

    def _get(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object, one GET."""
        kwargs = {"Bucket": self.bucket, "Key": self.key, "Range": f"bytes={start}-{end - 1}"}
        if self.etag:
            kwargs["IfMatch"] = self.etag
        body = self.client.get_object(**kwargs)["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        self.requests += 1
        self.bytes_downloaded += len(data)
        return data

    def _block(self, index: int) -> bytes:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        start = index * self.block
        data = self._get(start, min(self.size, start + self.block))
        self._cache[index] = data
        if len(self._cache) > self.max_blocks:
            self._cache.popitem(last=False)
        return data

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        if size > self.block:
            return self._get(offset, offset + size)
        first, last = offset // self.block, (offset + size - 1) // self.block
        data = b"".join(self._block(i) for i in range(first, last + 1))
        start = offset - first * self.block
        return data[start: start + size]


class SourceFile(io.RawIOBase):
    """A read-only, seekable file object over a ``ByteSource`` (for pydicom's reader)."""

    def __init__(self, source: ByteSource):
        super().__init__()
        self._source = source
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._source.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._source.size - self._pos
        data = self._source.read(self._pos, size)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
