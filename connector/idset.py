"""`IdSet`: the record ids a run has seen, kept compact so memory stays flat in the org's size.

A run remembers which ids it read (to prune deals a full read did not return, to skip accounts it
already scored, to skip failed records it read again anyway). A Python `set` of id strings costs
about 100 bytes an id; here each id is its UTF-8 bytes in a fixed-width numpy array (20-40 bytes),
appended page by page and sorted once when asked. Membership is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import numpy as np

__all__ = ["IdSet"]


class IdSet:
    """An append-only set of record ids with exact, vectorised membership."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._chunks: list[np.ndarray] = []
        self._sorted: np.ndarray = np.array([], dtype="S1")
        self.update(ids)

    def update(self, ids: Iterable[str]) -> None:
        """Add a page of ids."""
        encoded = [i.encode("utf-8") for i in ids]
        if encoded:
            self._chunks.append(np.array(encoded, dtype=np.bytes_))

    def add(self, record_id: str) -> None:
        self.update((record_id,))

    def _all(self) -> np.ndarray:
        if self._chunks:  # merge what was added since the last look, once
            self._sorted = np.unique(np.concatenate([self._sorted, *self._chunks]))
            self._chunks = []
        return self._sorted

    def __len__(self) -> int:
        return int(self._all().shape[0])

    def __contains__(self, record_id: object) -> bool:
        if not isinstance(record_id, str):
            return False
        return bool(self.contains([record_id])[0])

    def contains(self, ids: list[str]) -> np.ndarray:
        """A bool per id: was it added? One sorted search for the whole list."""
        known = self._all()
        if not ids or not known.shape[0]:
            return np.zeros(len(ids), dtype=bool)
        wanted = np.array([i.encode("utf-8") for i in ids], dtype=np.bytes_)
        at = np.searchsorted(known, wanted)
        found = np.zeros(len(ids), dtype=bool)
        inside = at < known.shape[0]
        found[inside] = known[at[inside]] == wanted[inside]
        return found

    def missing(self, ids: Iterable[str]) -> list[str]:
        """The ids of `ids` not in this set, in their order. `ids` is consumed a chunk at a time: it may be a
        stream of every account of the org, of which only the few missing are kept."""
        out: list[str] = []
        stream = iter(ids)
        while wanted := list(islice(stream, 10_000)):
            out += [i for i, hit in zip(wanted, self.contains(wanted).tolist(), strict=True) if not hit]
        return out
