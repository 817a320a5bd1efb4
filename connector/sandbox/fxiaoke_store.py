"""The Fxiaoke sandbox's records: storage in wire form, `_id` order, and stamping of every change.

Records are dicts keyed by field api name holding wire values (`fxiaoke_fields`); empty fields are
absent. Ids are 32 lowercase hex characters like the real ones and sort as strings, which the `_id GT`
deep-paging cursor relies on. Every change bumps the record's `version` and sets `last_modified_time`
to the clock in epoch milliseconds. One re-entrant lock guards all state.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.fxiaoke_org import OrgSchema

__all__ = ["Employee", "FxiaokeStore"]


@dataclass(frozen=True)
class Employee:
    id: str  # plain employee id, e.g. "1001"
    name: str
    open_id: str  # FSUID_…
    mobile: str
    department: str


@dataclass
class FxiaokeStore:
    """All records and employees of one sandbox tenant."""

    now: Callable[[], float]
    schema: OrgSchema
    seed: int = 0
    employees: list[Employee] = field(default_factory=list)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    writes: list[dict[str, Any]] = field(default_factory=list)  # create/update log: object, id, trigger flags
    _sorted: dict[str, tuple[int, list[str]]] = field(default_factory=dict, repr=False)
    _versions: dict[str, int] = field(default_factory=dict, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _auto: int = 0

    def __post_init__(self) -> None:
        self.records = {obj: {} for obj in self.schema.fields}
        self._rng = random.Random(f"fxiaoke-ids-{self.seed}")

    # ---------------------------------------------------------------- reading

    def employee(self, emp_id: str) -> Employee | None:
        return next((e for e in self.employees if e.id == emp_id), None)

    @property
    def operator(self) -> Employee:
        return self.employees[0]

    def sorted_ids(self, obj: str) -> list[str]:
        """The object's ids in string order, cached until the object changes."""
        with self.lock:
            version = self._versions.get(obj, 0)
            cached = self._sorted.get(obj)
            if cached is None or cached[0] != version:
                cached = (version, sorted(self.records[obj]))
                self._sorted[obj] = cached
            return cached[1]

    def ids_after(self, obj: str, after: str, inclusive: bool) -> list[str]:
        ids = self.sorted_ids(obj)
        start = (bisect.bisect_left if inclusive else bisect.bisect_right)(ids, after)
        return ids[start:]

    # ---------------------------------------------------------------- writing

    def new_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def next_auto_number(self) -> int:
        self._auto += 1
        return self._auto

    def changed(self, obj: str) -> None:
        self._versions[obj] = self._versions.get(obj, 0) + 1

    def insert(self, obj: str, rec: dict[str, Any], by: str, at_ms: int | None = None) -> dict[str, Any]:
        """Add a new record with its system fields; `rec` holds its business fields."""
        with self.lock:
            now = at_ms if at_ms is not None else self.now_ms()
            rid = rec.get("_id") or self.new_id()
            while rid in self.records[obj]:
                rid = self.new_id()
            owner = rec.get("owner") or [by]
            emp = self.employee(owner[0])
            full = {"_id": rid, **rec, "owner": owner, "created_by": [by], "create_time": rec.get("create_time", now),
                    "last_modified_by": [by], "last_modified_time": now, "life_status": "normal",
                    "lock_status": "0", "is_deleted": False, "record_type": rec.get("record_type", "default__c"),
                    "version": 1, "owner_department": emp.department if emp else "", "object_describe_api_name": obj}
            self.records[obj][rid] = full
            self.changed(obj)
            return full

    def modify(self, obj: str, rid: str, changes: dict[str, Any], by: str) -> dict[str, Any]:
        """Apply field changes (None clears) and stamp the record: version + 1, last_modified_time = now."""
        with self.lock:
            rec = self.records[obj][rid]
            for key, value in changes.items():
                if value is None:
                    rec.pop(key, None)
                else:
                    rec[key] = value
            rec["version"] = int(rec.get("version", 0)) + 1
            # a record changed twice in one millisecond must still show a later time to a poller
            rec["last_modified_time"] = max(self.now_ms(), int(rec.get("last_modified_time", 0)) + 1)
            rec["last_modified_by"] = [by]
            self.changed(obj)
            return rec

    def now_ms(self) -> int:
        return int(self.now() * 1000)
