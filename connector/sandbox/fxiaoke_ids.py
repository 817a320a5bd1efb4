"""Employee id forms on the Fxiaoke wire: plain ids (`"1000"`) or open user ids (`FSUID_…`).

Records keep plain ids. A call that works in open ids (legacy auth, or `convertUserId: true`) gets its
employee fields, write values and employee filters translated at the edge by these functions.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.fxiaoke_fields import FieldDef

__all__ = ["filters_in", "ids_in", "ids_out"]


def _employee_fields(layout: dict[str, FieldDef]) -> list[str]:
    return [name for name, fd in layout.items() if fd.type == "employee"]


def _mapped(rec: dict[str, Any], layout: dict[str, FieldDef], table: dict[str, str]) -> dict[str, Any]:
    out = dict(rec)
    for name in _employee_fields(layout):
        if isinstance(out.get(name), list):
            out[name] = [table.get(v, v) for v in out[name]]
    return out


def ids_out(rec: dict[str, Any], layout: dict[str, FieldDef], open_ids: dict[str, str]) -> dict[str, Any]:
    """A stored record with its employee fields as open ids (`open_ids`: plain id -> open id)."""
    return _mapped(rec, layout, open_ids)


def ids_in(item: dict[str, Any], layout: dict[str, FieldDef], open_ids: dict[str, str]) -> dict[str, Any]:
    """A write's `object_data` with open ids turned back into plain ids (plain ids pass as they are)."""
    return _mapped(item, layout, {oid: emp for emp, oid in open_ids.items()})


def filters_in(data: dict[str, Any], layout: dict[str, FieldDef], open_ids: dict[str, str]) -> dict[str, Any]:
    """A query's `data` with employee filter values as plain ids."""
    info = data.get("search_query_info")
    if not isinstance(info, dict) or not isinstance(info.get("filters"), list):
        return data
    plain = {oid: emp for emp, oid in open_ids.items()}
    names = set(_employee_fields(layout))
    filters = [{**f, "field_values": [plain.get(v, v) for v in f["field_values"]]}
               if isinstance(f, dict) and f.get("field_name") in names and isinstance(f.get("field_values"), list)
               else f for f in info["filters"]]
    return {**data, "search_query_info": {**info, "filters": filters}}
