"""The emulator's state: JSON records by kind and key, in memory or in a SQLite file.

Every model module reads and writes through one ``State``. Records live in a dict for fast
reads; with ``--state FILE`` each write also goes to SQLite, so a restart picks up where it
stopped. One re-entrant lock serialises requests: the emulator favours being right over being
fast, as Synapse's own row locks do for the calls we emulate.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class State:
    """Records grouped by kind (``user``, ``entity``, ``filehandle``...), each a JSON object."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.lock = threading.RLock()
        self._records: dict[str, dict[str, dict]] = {}
        self._db: sqlite3.Connection | None = None
        if path:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records ("
                " kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                " PRIMARY KEY (kind, key))"
            )
            for kind, key, value in self._db.execute("SELECT kind, key, value FROM records"):
                self._records.setdefault(kind, {})[key] = json.loads(value)

    @contextmanager
    def locked(self) -> Iterator[State]:
        with self.lock:
            yield self

    def get(self, kind: str, key: str | int) -> dict | None:
        """A copy of the record, so callers change state only through ``put``."""
        record = self._records.get(kind, {}).get(str(key))
        return copy.deepcopy(record) if record is not None else None

    def put(self, kind: str, key: str | int, value: dict) -> dict:
        value = copy.deepcopy(value)
        with self.lock:
            self._records.setdefault(kind, {})[str(key)] = value
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO records (kind, key, value) VALUES (?, ?, ?)",
                    (kind, str(key), json.dumps(value)),
                )
        return value

    def delete(self, kind: str, key: str | int) -> None:
        with self.lock:
            self._records.get(kind, {}).pop(str(key), None)
            if self._db is not None:
                self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, str(key)))

    def values(self, kind: str) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(v) for v in self._records.get(kind, {}).values()]

    def select(self, kind: str, predicate: Callable[[dict], bool]) -> list[dict]:
        """Copies of the records that match, without copying the ones that do not: name look-ups
        and children listings scan every entity, and copying them all made each call O(entities)
        in deep copies (a 1,000-file transfer slowed the emulator down fourfold)."""
        with self.lock:
            return [copy.deepcopy(v) for v in self._records.get(kind, {}).values() if predicate(v)]

    def count(self, kind: str) -> int:
        return len(self._records.get(kind, {}))

    def next_id(self, sequence: str, start: int) -> int:
        """The next number of a named sequence (entity ids, file handle ids...), persisted."""
        with self.lock:
            current = self.get("sequence", sequence) or {"value": start - 1}
            current["value"] += 1
            self.put("sequence", sequence, current)
            return current["value"]

    def clear(self) -> None:
        with self.lock:
            self._records.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM records")
