"""Bytes of uploaded parts and completed files, kept as files in a directory.

Bytes are not JSON records: they go to disk (beside the ``--state`` file, or a temporary
directory) so a multi-GiB upload never sits in memory or in SQLite.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

_CHUNK = 1024 * 1024


class BlobStorage:
    def __init__(self, root: str | None = None):
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="synapse-emulator-blobs-")
            root = self._tmp.name
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError("invalid blob key")
        return self.root / key

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def md5(self, key: str) -> str:
        digest = hashlib.md5()
        with self._path(key).open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def path(self, key: str) -> Path:
        return self._path(key)

    def concatenate(self, target: str, sources: list[str]) -> None:
        """Join parts into one blob by streaming, then drop the parts."""
        path = self._path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        with tmp.open("wb") as out:
            for source in sources:
                with self._path(source).open("rb") as handle:
                    shutil.copyfileobj(handle, out, _CHUNK)
        os.replace(tmp, path)
        for source in sources:
            self.delete(source)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def clear(self) -> None:
        for child in self.root.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
