"""The Zoho sandbox's records: storage, ordering, and every mutation a client or a CRM user makes.

Records are kept sparse (only the keys that hold a value) and rendered over a per-module template, so
10,000 accounts with ~110 keys each stay small. The org's layouts (`schema`) decide which fields exist;
a unique field keeps an index so a duplicate value is refused. One re-entrant lock guards all state;
every mutation bumps `version`, which invalidates the cached sort orders.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.sandbox.zoho_fields import FIELDS, MODULES, FieldError, fmt_dt, make_id, validate
from connector.sandbox.zoho_org import OrgSchema, org_schema, record_template

__all__ = ["NAME_FIELD", "TEMPLATES", "User", "WriteOp", "ZohoStore"]

WriteOp = Literal["create", "update", "upsert"]
NAME_FIELD = {"Accounts": "Account_Name", "Deals": "Deal_Name", "Tasks": "Subject", "Contacts": "Full_Name",
              "Campaigns": "Campaign_Name"}
_RELATED_MODULES = ("Accounts", "Deals", "Leads", "Contacts", "Campaigns", "Cases", "Solutions", "Vendors",
                    "Products", "Quotes", "Sales_Orders", "Purchase_Orders", "Invoices")


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    zuid: str

    def ref(self, email: bool = True) -> dict[str, str]:
        return {"name": self.name, "id": self.id, "email": self.email} if email else {"name": self.name,
                                                                                     "id": self.id}


class _ServingTemplates(Mapping[str, dict[str, Any]]):
    """`TEMPLATES[module]`: the empty record of the serving org's layout, for code not handed the store."""

    def __getitem__(self, module: str) -> dict[str, Any]:
        return record_template(module, FIELDS[module])

    def __iter__(self) -> Iterator[str]:
        return iter(FIELDS)

    def __len__(self) -> int:
        return len(FIELDS)


TEMPLATES: Mapping[str, dict[str, Any]] = _ServingTemplates()


@dataclass
class ZohoStore:
    """All records, users and tag definitions of one sandbox org."""

    now: Callable[[], float]
    schema: OrgSchema = field(default_factory=lambda: org_schema("provisioned", 0))
    users: list[User] = field(default_factory=list)
    integration: User = field(default_factory=lambda: User(make_id(100099), "riskbridge integration",
                                                           "riskbridge.integration@example.com", "90000099"))
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {m: {} for m in MODULES})
    mtime: dict[str, int] = field(default_factory=dict)  # record id -> Modified_Time as epoch seconds
    ctime: dict[str, int] = field(default_factory=dict)
    tags: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {m: {} for m in MODULES})
    deleted: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {m: [] for m in MODULES})
    children: dict[str, set[str]] = field(default_factory=dict)  # account/deal id -> deal and task ids
    unique: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (module, field) -> value -> id
    version: int = 0
    next_id: int = 8_000_001
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _order: dict[tuple[str, str, bool], tuple[int, list[str]]] = field(default_factory=dict, repr=False)
    _touch: dict[str, tuple[list[str], int]] = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- reading

    def user(self, user_id: str) -> User | None:
        return next((u for u in (*self.users, self.integration) if u.id == user_id), None)

    def full(self, module: str, rec: dict[str, Any]) -> dict[str, Any]:
        out = dict(self.schema.template(module))
        out.update(rec)
        return out

    def project(self, module: str, rec: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        tmpl = self.schema.template(module)
        out = {"id": rec["id"]}
        for name in fields:
            out[name] = rec.get(name, tmpl.get(name))
        return out

    def ordered(self, module: str, sort_by: str, descending: bool) -> list[str]:
        """Record ids in sort order (ties broken by id), cached until the next mutation."""
        key = (module, sort_by, descending)
        with self.lock:
            cached = self._order.get(key)
            if cached and cached[0] == self.version:
                return cached[1]
            ids = list(self.records[module])
            if sort_by == "Modified_Time":
                ids.sort(key=lambda i: (self.mtime[i], i), reverse=descending)
            elif sort_by == "Created_Time":
                ids.sort(key=lambda i: (self.ctime[i], i), reverse=descending)
            else:
                ids.sort(reverse=descending)
            self._order[key] = (self.version, ids)
            return ids

    def tag_refs(self, module: str, names: Iterable[str]) -> list[dict[str, Any]]:
        defs = self.tags[module]
        return [{"name": defs[n.lower()]["name"], "id": defs[n.lower()]["id"]} for n in names if n.lower() in defs]

    # ---------------------------------------------------------------- internal helpers

    def new_id(self) -> str:
        self.next_id += 1
        return make_id(self.next_id)

    def stamp(self, module: str, rec: dict[str, Any], by: User, created: bool = False) -> int:
        """Set Modified_Time/Modified_By (and Created_* on insert) to now; returns the epoch second."""
        now = int(self.now())
        rec["Modified_Time"] = fmt_dt(now)
        rec["Modified_By"] = by.ref()
        self.mtime[rec["id"]] = now
        if created:
            rec["Created_Time"] = rec["Modified_Time"]
            rec["Created_By"] = by.ref()
            self.ctime[rec["id"]] = now
        self.version += 1
        return now

    def define_tag(self, module: str, name: str, color: str | None = None, by: User | None = None) -> dict[str, Any]:
        existing = self.tags[module].get(name.lower())
        if existing:
            return existing
        who = (by or self.integration).ref(email=False)
        stamp = fmt_dt(self.now())
        tag = {"created_time": stamp, "modified_time": stamp, "name": name, "modified_by": who,
               "id": self.new_id(), "created_by": who, "color_code": color}
        self.tags[module][name.lower()] = tag
        return tag

    def _link(self, parent: str | None, child: str, old_parent: str | None = None) -> None:
        if old_parent and old_parent in self.children:
            self.children[old_parent].discard(child)
        if parent:
            self.children.setdefault(parent, set()).add(child)

    # ---------------------------------------------------------------- record writes

    def write(self, module: str, items: list[Any], op: WriteOp, dup_fields: list[str],
              record_error: Callable[[str], str | None]) -> list[dict[str, Any]]:
        """Apply a batch in order; one result per item in Zoho's `data[]` shape."""
        with self.lock:
            return [self._write_one(module, i, item, op, dup_fields, record_error) for i, item in enumerate(items)]

    def _write_one(self, module: str, i: int, item: Any, op: WriteOp, dup_fields: list[str],
                   record_error: Callable[[str], str | None]) -> dict[str, Any]:
        path = f"$.data[{i}]"
        if not isinstance(item, dict):
            return FieldError("INVALID_DATA", "invalid data", {"api_name": "data", "json_path": path}).body()
        rec: dict[str, Any] | None = None
        dup_field: str | None = None
        if op == "update" or (op == "upsert" and "id" in item):
            rid = item.get("id")
            if rid is None:
                return FieldError("MANDATORY_NOT_FOUND", "required field not found",
                                  {"api_name": "id", "json_path": f"{path}.id"}).body()
            rec = self.records[module].get(str(rid))
            if rec is None:
                return FieldError("INVALID_DATA", "the id given seems to be invalid",
                                  {"api_name": "id", "json_path": f"{path}.id"}).body()
        elif op == "upsert":
            rec, dup_field = self._find_duplicate(module, item, dup_fields)
            # As on Salesforce, a fault configured for an upsert's key value fails that record too.
            fault = next((f for name in dup_fields if (f := record_error(str(item.get(name))))), None)
            if fault:
                return _fault_body(fault, path, item)
        if rec is not None:
            fault = record_error(rec["id"])
            if fault:
                return _fault_body(fault, path, item)
        changes, error = self._check(module, item, path, current=rec)
        if error:
            return error.body()
        creating = rec is None
        if rec is None:
            rec = {"id": self.new_id(), "Owner": self.integration.ref()}
            self.records[module][rec["id"]] = rec
            self.stamp(module, rec, self.integration, created=True)
        self._apply(module, rec, changes)
        self.stamp(module, rec, self.integration)
        details = {"Modified_Time": rec["Modified_Time"], "Modified_By": self.integration.ref(email=False),
                   "Created_Time": rec["Created_Time"], "id": rec["id"],
                   "Created_By": {k: rec["Created_By"][k] for k in ("name", "id")}}
        message = "record added" if creating else "record updated"
        if op == "upsert":
            return {"code": "SUCCESS", "duplicate_field": dup_field, "action": "insert" if creating else "update",
                    "details": details, "message": message, "status": "success"}
        return {"code": "SUCCESS", "details": details, "message": message, "status": "success"}

    def _find_duplicate(self, module: str, item: dict[str, Any],
                        dup_fields: list[str]) -> tuple[dict[str, Any] | None, str | None]:
        for name in dup_fields:
            value = item.get(name)
            if value is None:
                continue
            index = self.unique.get((module, name))
            if index is not None:
                rid = index.get(str(value))
                if rid:
                    return self.records[module][rid], name
                continue
            for rec in self.records[module].values():
                if rec.get(name) == value:
                    return rec, name
        return None, None

    def _check(self, module: str, item: dict[str, Any], path: str,
               current: dict[str, Any] | None) -> tuple[dict[str, Any], FieldError | None]:
        fields = self.schema.fields[module]
        changes: dict[str, Any] = {}
        for key, value in item.items():
            if key == "id" or (key.startswith("$") and key != "$se_module"):
                continue  # system keys other than $se_module are output-only and ignored on input
            if key == "$se_module" and module == "Tasks":
                if value is not None and value not in _RELATED_MODULES:
                    return changes, FieldError("INVALID_DATA", "invalid data",
                                               {"api_name": "$se_module", "json_path": f"{path}.$se_module"})
                changes[key] = value
                continue
            fd = fields.get(key)
            if fd is None:
                return changes, FieldError("INVALID_DATA", "the field api name given seems to be invalid",
                                           {"api_name": key, "json_path": f"{path}.{key}"})
            if fd.read_only:
                continue
            stored, error = validate(fd, value, f"{path}.{key}")
            if error:
                return changes, error
            if isinstance(stored, dict) and fd.data_type in ("lookup", "ownerlookup"):
                se_module = item.get("$se_module") if key == "What_Id" else fd.lookup
                stored, error = self._resolve(fd.data_type, key, stored["id"], se_module, f"{path}.{key}", item)
                if error:
                    return changes, error
            if fd.unique and stored is not None:
                other = self.unique.get((module, key), {}).get(str(stored))
                if other and (current is None or other != current["id"]):
                    owner = self.records[module][other].get("Owner", {})
                    user = self.user(owner.get("id", "")) or self.integration
                    return changes, FieldError("DUPLICATE_DATA", "duplicate data", {
                        "api_name": key, "json_path": f"{path}.{key}",
                        "duplicate_record": {"Owner": {"name": user.name, "id": user.id, "zuid": user.zuid},
                                             "id": other},
                        "id": other, "more_records": False})
            changes[key] = stored
        if current is None:
            for fd in fields.values():
                if fd.mandatory and changes.get(fd.api_name) is None:
                    return changes, FieldError("MANDATORY_NOT_FOUND", "required field not found",
                                               {"api_name": fd.api_name, "json_path": f"{path}.{fd.api_name}"})
        return changes, None

    def _resolve(self, kind: str, key: str, ref_id: str, target: Any, path: str,
                 item: dict[str, Any]) -> tuple[Any, FieldError | None]:
        invalid = FieldError("INVALID_DATA", "invalid data", {"api_name": key, "json_path": path})
        if kind == "ownerlookup":
            user = self.user(ref_id)
            return (user.ref(), None) if user else (None, invalid)
        if key == "What_Id" and "$se_module" not in item:
            return None, FieldError("MANDATORY_NOT_FOUND", "required field not found",
                                    {"api_name": "$se_module", "json_path": path.rsplit(".", 1)[0] + ".$se_module"})
        rec = self.records.get(str(target), {}).get(ref_id) if target in MODULES else None
        if rec is None:
            return None, invalid
        return {"name": rec.get(NAME_FIELD[str(target)]), "id": ref_id}, None

    def _apply(self, module: str, rec: dict[str, Any], changes: dict[str, Any]) -> None:
        rid = rec["id"]
        layout = self.schema.fields[module]
        for key, value in changes.items():
            fd = layout.get(key)
            if fd is not None and fd.unique:
                index = self.unique.setdefault((module, key), {})
                if rec.get(key) is not None:
                    index.pop(str(rec[key]), None)
                if value is not None:
                    index[str(value)] = rid
        if module == "Contacts" and ("First_Name" in changes or "Last_Name" in changes):
            first = changes.get("First_Name", rec.get("First_Name"))
            last = changes.get("Last_Name", rec.get("Last_Name"))
            rec["Full_Name"] = " ".join(p for p in (first, last) if p)
        for key in ("Account_Name", "What_Id"):
            if key in changes and module != "Accounts":
                old_ref, new_ref = rec.get(key), changes[key]
                self._link(new_ref["id"] if new_ref else None, rid, old_ref["id"] if old_ref else None)
        if module == "Tasks" and "Status" in changes:
            done = changes["Status"] == "Completed"
            if done and not rec.get("Closed_Time"):
                rec["Closed_Time"] = fmt_dt(self.now())
            elif not done:
                rec["Closed_Time"] = None
        rec.update(changes)
        if module == "Deals" and ("Amount" in changes or "Probability" in changes):
            amount, prob = rec.get("Amount"), rec.get("Probability")
            rec["Expected_Revenue"] = None if amount is None or prob is None else round(amount * prob / 100, 2)
        if module in ("Accounts", "Deals") and NAME_FIELD[module] in changes:
            name = changes[NAME_FIELD[module]]
            for child in self.children.get(rid, ()):
                for mod in ("Deals", "Tasks", "Contacts"):
                    other = self.records[mod].get(child)
                    if other is not None:
                        key = "What_Id" if mod == "Tasks" else "Account_Name"
                        other[key] = {"name": name, "id": rid}

    def delete(self, module: str, rid: str) -> bool:
        with self.lock:
            rec = self.records[module].pop(rid, None)
            if rec is None:
                return False
            for (mod, key), index in self.unique.items():
                if mod == module and rec.get(key) is not None:
                    index.pop(str(rec[key]), None)
            self.deleted[module].append({
                "deleted_by": self.integration.ref(email=False), "id": rid,
                "display_name": rec.get(NAME_FIELD[module]), "type": "recycle",
                "created_by": {k: v for k, v in (rec.get("Created_By") or {}).items() if k != "email"} or None,
                "deleted_time": fmt_dt(self.now()), "_at": int(self.now())})
            self.version += 1
            return True

    # ---------------------------------------------------------------- tags on records

    def retag(self, module: str, rid: str, names: list[str], over_write: bool, add: bool) -> dict[str, Any]:
        """Add (or remove) tags on one record; returns its tags afterwards as the tag actions report them."""
        with self.lock:
            rec = self.records[module][rid]
            current = [t["name"] for t in rec.get("Tag") or []]
            if add:
                for name in names:
                    self.define_tag(module, name)
                wanted = [self.tags[module][n.lower()]["name"] for n in names]
                keep = [] if over_write else current
                merged = keep + [n for n in wanted if n.lower() not in {k.lower() for k in keep}]
            else:
                drop = {n.lower() for n in names}
                merged = [n for n in current if n.lower() not in drop]
            rec["Tag"] = self.tag_refs(module, merged)
            self.stamp(module, rec, self.integration)
            return {"id": rid, "tags": [{**ref, "color_code": self.tags[module][ref["name"].lower()]["color_code"]}
                                        for ref in rec["Tag"]]}

    # ---------------------------------------------------------------- CRM users at work

    def pick_for_touch(self, module: str, count: int) -> list[str]:
        """The next `count` records of a fixed shuffled order, so successive touches pick different ones."""
        with self.lock:
            order, cursor = self._touch.get(module, ([], 0))
            live = self.records[module]
            if len(order) != len(live) or any(i not in live for i in order[cursor:cursor + count]):
                known = set(order)
                fresh = sorted(i for i in live if i not in known)
                random.Random(f"{module}:{len(fresh)}").shuffle(fresh)
                order = [i for i in order if i in live] + fresh
                cursor = cursor % max(1, len(order))
            picked = []
            for _ in range(min(count, len(order))):
                picked.append(order[cursor])
                cursor = (cursor + 1) % len(order)
            self._touch[module] = (order, cursor)
            return picked


def _fault_body(code: str, path: str, item: dict[str, Any]) -> dict[str, Any]:
    """A per-record error injected by the fault spec, shaped like the real one."""
    if code == "RECORD_LOCKED":
        return FieldError(code, "Sorry, you cannot perform this operation as the record is locked.",
                          {"api_name": "id", "json_path": f"{path}.id", "action": "record_locking"}).body()
    if code == "INVALID_DATA":
        name = next((k for k in item if k != "id" and not k.startswith("$")), "id")
        return FieldError(code, "invalid data", {"api_name": name, "json_path": f"{path}.{name}"}).body()
    if code == "NOT_APPROVED":
        return FieldError(code, "record not approved", {"id": item.get("id")}).body()
    return FieldError(code, code.replace("_", " ").lower(), {"api_name": "id", "json_path": f"{path}.id"}).body()
