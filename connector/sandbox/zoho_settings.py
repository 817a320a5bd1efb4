"""Org metadata and customisation: the org, its modules, its users, field metadata and field creation.

    GET  /crm/v8/org                                  {"org": [{…}]}
    GET  /crm/v8/settings/modules[/{api_name}]        {"modules": [{…}]}; unknown → 400 INVALID_MODULE
    GET  /crm/v8/users/{id}                           {"users": [{…}]}; unknown → 400 INVALID_DATA
    GET  /crm/v8/settings/fields?module=[&id]         {"fields": [{…}]} of the org's own layout
    GET  /crm/v8/settings/fields/{id}?module=
    POST /crm/v8/settings/fields?module=              {"fields": [≤ 25 definitions]} → per-field results

Field creation follows the v8 "Create Custom Fields" page: one result per field in input order, 201 when
all succeed, 207 when mixed, 400 when none does. The API name comes from the label as Zoho makes it
(runs of anything but letters and digits become one `_`; a label with no ASCII letter or digit gets
`field`, `field1`, …); a label already used in the module is `DUPLICATE_DATA`. A new field shows in the
metadata at once and can be read, written, queried and searched like any other.
"""

from __future__ import annotations

import re
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.zoho_fields import MODULE_IDS, MODULES, ORG_ID, FieldDef, field_metadata, fmt_dt, make_id
from connector.sandbox.zoho_read import error
from connector.sandbox.zoho_store import NAME_FIELD, User, ZohoStore

__all__ = ["CREATABLE_TYPES", "create_fields", "get_field", "get_module", "get_org", "get_user", "label_api_name",
           "list_fields", "list_modules", "user_entry"]

MAX_CREATE = 25
# data_type -> (default length, maximum length); None where Zoho fixes the length itself
CREATABLE_TYPES: dict[str, tuple[int | None, int | None]] = {
    "text": (255, 255), "textarea": (2000, 32000), "email": (100, 100), "phone": (30, 30), "website": (255, 255),
    "integer": (9, 9), "double": (16, 16), "currency": (16, 16), "percent": (5, 5),
    "date": (None, None), "datetime": (None, None), "boolean": (None, None), "picklist": (None, None),
}
_DECIMALS = {"double": (2, 9), "currency": (2, 9), "percent": (2, 2)}  # (default, maximum)
_MODULE_LABELS = {"Accounts": ("Account", 4), "Deals": ("Deal", 5), "Tasks": ("Task", 9), "Contacts": ("Contact", 3),
                  "Campaigns": ("Campaign", 7)}
_PROFILES = [{"name": "Administrator", "id": make_id(26011)}, {"name": "Standard", "id": make_id(26014)}]


def get_org(store: ZohoStore) -> Response:
    admin = store.users[0] if store.users else store.integration
    return json_response(200, {"org": [{
        "id": ORG_ID, "company_name": "Zylker Industrial Supplies", "alias": "zylker", "domain_name": f"org{ORG_ID}",
        "primary_email": admin.email, "primary_zuid": admin.zuid, "zgid": str(60000000 + int(ORG_ID) % 1000),
        "country": "India", "country_code": "IN", "iso_code": "INR", "time_zone": "Asia/Kolkata",
        "currency": "Indian Rupee - INR", "currency_symbol": "₹", "currency_locale": "en_IN",
        "mc_status": True, "type": "production", "street": None, "city": "Chennai", "state": "Tamil Nadu",
        "zip": None, "phone": None, "mobile": None, "fax": None, "website": None, "description": None,
        "employee_count": "250", "photo_id": None, "gapps_enabled": False, "translation_enabled": True,
        "privacy_settings": True, "hipaa_compliance_enabled": False, "lite_users_enabled": False,
        "max_per_page": 200, "call_icon": "show", "oauth_presence": True, "zia_portal_id": None,
        "deletable_org_account": False, "created_time": fmt_dt(1_600_000_000),
        "license_details": {"paid": True, "paid_type": "enterprise", "paid_expiry": None, "trial_type": None,
                            "trial_expiry": None, "trial_action": None, "users_license_purchased": 25,
                            "portal_users_license_purchased": 0},
        "hierarchy_preferences": {"type": "Role_Hierarchy", "strictly_reporting": False},
    }]})


def _module_entry(name: str, detail: bool) -> dict[str, Any]:
    singular, sequence = _MODULE_LABELS[name]
    entry: dict[str, Any] = {
        "id": MODULE_IDS[name], "api_name": name, "module_name": name, "plural_label": name,
        "singular_label": singular, "actual_plural_label": name, "actual_singular_label": singular,
        "api_supported": True, "generated_type": "default", "creatable": True, "editable": True,
        "deletable": True, "viewable": True, "convertable": False, "lookupable": name != "Tasks",
        "quick_create": True, "show_as_tab": True, "sequence_number": sequence, "visibility": 1,
        "status": "visible", "access_type": "org_based", "global_search_supported": True,
        "recycle_bin_on_delete": True, "feeds_required": False, "isBlueprintSupported": name == "Deals",
        "presence_sub_menu": True, "sub_menu_available": True, "has_more_profiles": False, "private_profile": None,
        "public_fields_configured": False, "web_link": None, "description": None, "arguments": [],
        "parent_module": {}, "profiles": _PROFILES, "profile_count": 2, "business_card_field_limit": 5,
        "modified_time": None, "modified_by": None,
    }
    if detail:
        entry.update({"display_field": NAME_FIELD[name], "per_page": 50, "kanban_view": False,
                      "kanban_view_supported": name != "Tasks", "filter_status": True, "chart_view": False,
                      "search_layout_fields": [NAME_FIELD[name], "Owner"],
                      "$properties": ["$approval_state", "$currency_symbol", "$editable", "$field_states",
                                      "$locked_for_me", "$review_process", "$layout_id"]})
    return entry


def list_modules() -> Response:
    # Home and Feeds are in every org but not served by the API; clients must skip api_supported=false
    shell = [{**_module_entry("Accounts", False), "id": make_id(2646), "api_name": name, "module_name": name,
              "plural_label": name, "singular_label": name, "actual_plural_label": name,
              "actual_singular_label": name, "api_supported": False, "creatable": False, "editable": False,
              "deletable": False, "lookupable": False, "sequence_number": n, "global_search_supported": False}
             for n, name in ((1, "Home"), (15, "Feeds"))]
    modules = sorted([*shell, *(_module_entry(m, False) for m in MODULES)], key=lambda m: m["sequence_number"])
    return json_response(200, {"modules": modules})


def get_module(name: str) -> Response:
    module = next((m for m in MODULES if m.lower() == name.lower() or MODULE_IDS[m] == name), None)
    if module is None:
        return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 2})
    return json_response(200, {"modules": [_module_entry(module, True)]})


_THEME = {"normal_tab": {"font_color": "#FFFFFF", "background": "#222222"},
          "selected_tab": {"font_color": "#FFFFFF", "background": "#222222"}, "new_background": None,
          "background": "#F3F0EB", "screen": "fixed", "type": "default"}
_CUSTOMIZE = {"notes_desc": None, "show_right_panel": None, "bc_view": None, "show_home": False,
              "show_detail_view": True, "show_left_panel": True, "unpin_recent_item": None}


def user_entry(user: User, integration: User) -> dict[str, Any]:
    """One user as `GET users` and `GET users/{id}` show it (keys as a real org's, `shared/fixtures/zoho`)."""
    admin = user is integration
    first, _, last = user.name.partition(" ")
    creator = {"name": integration.name, "id": integration.id}
    return {"id": user.id, "full_name": user.name, "first_name": first, "last_name": last or user.name,
            "email": user.email, "zuid": user.zuid, "status": "active", "confirm": True,
            "role": {"name": "CEO" if admin else "Sales Rep", "id": "4150868000000026005"},
            "profile": {"name": "Administrator", "id": "4150868000000026011"}, "time_zone": "Asia/Kolkata",
            "offset": 19_800_000, "locale": "en_US", "language": "en_US", "country_locale": "IN",
            "decimal_separator": "en_IN", "date_format": "MM/dd/yyyy", "time_format": "hh:mm a",
            "name_format": "Salutation,First Name,Last Name", "country": "India", "state": None, "city": None,
            "street": None, "zip": None, "phone": None, "mobile": None, "fax": None, "website": None, "dob": None,
            "alias": None, "signature": None, "microsoft": False, "sandboxDeveloper": False,
            "personal_account": False, "Isonline": False, "default_tab_group": "0", "territories": [],
            "Reporting_To": None, "status_reason__s": None, "distance_preference__s": "Kilometers",
            "Current_Shift__s": None, "Next_Shift__s": None, "Shift_Effective_From__s": None,
            "theme": _THEME, "customize_info": _CUSTOMIZE, "type__s": "Regular User",
            "created_by": creator, "Modified_By": creator, "created_time": fmt_dt(0), "Modified_Time": fmt_dt(0)}


def get_user(store: ZohoStore, user_id: str) -> Response:
    user = store.user(user_id)
    if user is None:
        return error(400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 1})
    return json_response(200, {"users": [user_entry(user, store.integration)]})


def _entries(store: ZohoStore, module: str) -> list[dict[str, Any]]:
    return [field_metadata(module, i, fd) for i, fd in enumerate(store.schema.fields[module].values())]


def list_fields(store: ZohoStore, module: str) -> Response:
    with store.lock:
        return json_response(200, {"fields": _entries(store, module)})


def get_field(store: ZohoStore, module: str, field_id: str) -> Response:
    with store.lock:
        found = [e for e in _entries(store, module) if e["id"] == field_id]
    if not found:
        return error(400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 3})
    return json_response(200, {"fields": found})


def label_api_name(label: str, taken: set[str]) -> str:
    """The API name Zoho gives a new field with this label, unique among `taken` (compared case-blind)."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")
    if not base or not base[0].isalpha():
        base = f"field{base and '_' + base}" if base else "field"
    lowered = {t.lower() for t in taken}
    name, n = base, 0
    while name.lower() in lowered:
        n += 1
        name = f"{base}{n}"
    return name


def create_fields(store: ZohoStore, module: str, request: Request) -> Response:
    try:
        payload = request.json()
    except (ValueError, UnicodeDecodeError):
        return error(400, "INVALID_DATA", "body is not a valid JSON", {})
    items = payload.get("fields") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        return error(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "fields",
                                                                                "json_path": "$.fields"})
    if len(items) > MAX_CREATE:
        return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_CREATE, "api_name": "fields",
                                                                "json_path": "$.fields"})
    results: list[dict[str, Any]] = []
    with store.lock:
        for i, item in enumerate(items):
            made = _field_from(store, module, item, f"$.fields[{i}]")
            if isinstance(made, dict):
                results.append(made)
                continue
            store.schema.add(module, made)
            store.version += 1
            position = list(store.schema.fields[module]).index(made.api_name)
            results.append({"code": "SUCCESS", "details": {"id": field_metadata(module, position, made)["id"]},
                            "message": "field created", "status": "success"})
    ok = sum(r["status"] == "success" for r in results)
    status = 201 if ok == len(results) else 400 if ok == 0 else 207
    return json_response(status, {"fields": results})


def _bad(code: str, message: str, key: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "details": {"api_name": key, "json_path": f"{path}.{key}", **extra}, "message": message,
            "status": "error"}


def _field_from(store: ZohoStore, module: str, item: Any, path: str) -> FieldDef | dict[str, Any]:
    """The new field an input entry defines, or its per-field error."""
    if not isinstance(item, dict):
        return {"code": "INVALID_DATA", "details": {"api_name": "fields", "json_path": path},
                "message": "invalid data", "status": "error"}
    label, data_type = item.get("field_label"), item.get("data_type")
    for key, value in (("field_label", label), ("data_type", data_type)):
        if value is None:
            return _bad("MANDATORY_NOT_FOUND", "required field not found", key, path)
        if not isinstance(value, str) or not value.strip():
            return _bad("INVALID_DATA", "invalid data", key, path, expected_data_type="string")
    assert isinstance(label, str) and isinstance(data_type, str)
    label = label.strip()
    if len(label) > 50:
        return _bad("INVALID_DATA", "invalid data", "field_label", path, maximum_length=50)
    layout = store.schema.fields[module]
    if any(fd.label.lower() == label.lower() for fd in layout.values()):
        return _bad("DUPLICATE_DATA", "duplicate data", "field_label", path)
    if data_type not in CREATABLE_TYPES:
        return _bad("INVALID_DATA", "invalid data", "data_type", path, supported_values=sorted(CREATABLE_TYPES))
    default_length, max_length = CREATABLE_TYPES[data_type]
    length = item.get("length", default_length)
    if max_length is not None and (isinstance(length, bool) or not isinstance(length, int)
                                   or not 1 <= length <= max_length):
        return _bad("INVALID_DATA", "invalid data", "length", path, maximum_length=max_length)
    decimals = None
    if data_type in _DECIMALS:
        default_places, max_places = _DECIMALS[data_type]
        decimals = item.get("decimal_place", default_places)
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= max_places:
            return _bad("INVALID_DATA", "invalid data", "decimal_place", path, range={"from": 0, "to": max_places})
    values: tuple[str, ...] = ()
    if data_type == "picklist":
        picks = item.get("pick_list_values")
        if not isinstance(picks, list) or not picks:
            return _bad("MANDATORY_NOT_FOUND", "required field not found", "pick_list_values", path)
        shown = [p.get("actual_value") or p.get("display_value") if isinstance(p, dict) else None for p in picks]
        if not all(isinstance(v, str) and v.strip() for v in shown) or len(set(shown)) != len(shown):
            return _bad("INVALID_DATA", "invalid data", "pick_list_values", path)
        values = tuple(v for v in shown if isinstance(v, str))
    tooltip = item.get("tooltip")
    if tooltip is not None and (not isinstance(tooltip, dict) or tooltip.get("name") not in ("static_text", "info_icon")
                                or not isinstance(tooltip.get("value"), str)):
        return _bad("INVALID_DATA", "invalid data", "tooltip", path)
    unique = item.get("unique")
    is_unique = unique is True or isinstance(unique, dict)  # v8 takes {"case_sensitive": false}
    api = label_api_name(label, set(layout))
    return FieldDef(api, label, data_type, length if max_length is not None else None, decimals=decimals,
                    values=values, custom=True, unique=is_unique,
                    tooltip={"name": tooltip["name"], "value": tooltip["value"]} if tooltip else None)
