"""Field metadata of the Zoho sandbox: the module layouts, value checks and formats.

One `FieldDef` per API name drives three things: the `settings/fields` metadata, the per-record type
checks of create/update/upsert, and the record template (every field present, empty as `null`). The
standard fields are those a real org returns (`shared/fixtures/zoho/`); the custom ones are the
riskbridge inputs, outputs and override fields agreed in `fields.md`. These are the *provisioned*
org's layouts; every sandbox org owns a copy of its own (`zoho_org.OrgSchema`), and `FIELDS` shows the
layouts of the org serving the current request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from connector.countries import COUNTRIES

__all__ = [
    "FIELDS", "MODULES", "MODULE_IDS", "ORG_ID", "ORG_TZ", "PROVISIONED", "STAGES", "SYSTEM_KEYS", "TASK_PRIORITY", "TASK_STATUS",
    "TIERS", "FieldDef", "FieldError", "Layouts", "fmt_dt", "make_id", "metadata", "parse_dt", "serving", "validate",
]

ORG_ID = "4150868"  # ids are the org's 7 digits + 12 digits, 19 in all, and always strings
ORG_TZ = timezone(timedelta(hours=5, minutes=30))  # the org's time zone: datetimes carry "+05:30"
TIERS = ("low", "medium", "high", "critical")
_DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}:\d{2}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DEFAULT_LENGTH = {"boolean": 5, "date": 20, "datetime": 120, "lookup": 120, "ownerlookup": 120,
                   "userlookup": 120, "picklist": 120, "jsonobject": 2000, "jsonarray": 2000, "double": 16,
                   "currency": 16, "integer": 9, "bigint": 19}
_JSON_TYPE = {
    "integer": "integer", "double": "double", "currency": "double", "percent": "double", "boolean": "boolean",
    "lookup": "jsonobject", "ownerlookup": "jsonobject", "userlookup": "jsonobject", "jsonobject": "jsonobject",
    "jsonarray": "jsonarray", "multiselectpicklist": "jsonarray",
}


def make_id(n: int) -> str:
    """A 19-digit Zoho-style record id."""
    return f"{ORG_ID}{n:012d}"


def fmt_dt(moment: datetime | float) -> str:
    """ISO 8601 in the org's offset, seconds resolution, as Zoho writes datetimes."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(ORG_TZ).replace(microsecond=0).isoformat()


def parse_dt(text: str) -> datetime | None:
    """An ISO 8601 datetime with an explicit offset, or None (Zoho rejects values without one)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if not _DT_RE.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class FieldDef:
    api_name: str
    label: str
    data_type: str
    length: int | None = None
    decimals: int | None = None
    values: tuple[str, ...] = ()
    custom: bool = False
    read_only: bool = False  # system-managed: writes are ignored
    mandatory: bool = False
    unique: bool = False
    lookup: str | None = None
    json: str | None = None  # when the metadata's json_type is not the data type's usual one
    tooltip: dict[str, str] | None = None  # {"name": "static_text"|"info_icon", "value": …}

    @property
    def json_type(self) -> str:
        return self.json or _JSON_TYPE.get(self.data_type, "string")


@dataclass(frozen=True)
class FieldError:
    """One per-record error in Zoho's `data[]` shape."""

    code: str
    message: str
    details: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


def _f(api: str, data_type: str, length: int | None = None, **kw: Any) -> FieldDef:
    label = kw.pop("label", None) or api.replace("__s", "").replace("_", " ")
    return FieldDef(api, label, data_type, length, **kw)


def _cur(api: str, **kw: Any) -> FieldDef:
    return _f(api, "currency", 16, decimals=2, **kw)


def _sys(api: str, data_type: str) -> FieldDef:
    return _f(api, data_type, read_only=True)


_INDUSTRY = (
    "Technology", "Manufacturing", "Retail", "Construction", "Healthcare", "Finance", "Energy", "Transportation",
    "Food & Beverage", "Chemicals", "Electronics", "Consulting", "Hospitality", "Telecommunications",
    "Agriculture", "Machinery", "Apparel", "Shipping", "Media", "Utilities", "Biotechnology", "Education",
    "Insurance", "Engineering", "Real Estate", "Government/Military", "Non-Profit",
)
_CURRENCIES = tuple(sorted({c.currency for c in COUNTRIES} | {"USD", "EUR", "GBP", "JPY"}))
STAGES = ("Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers", "Perception Analysis",
          "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost", "Closed-Lost to Competition")
TASK_STATUS = ("Not Started", "Deferred", "In Progress", "Completed", "Waiting on someone else")
TASK_PRIORITY = ("High", "Highest", "Low", "Lowest", "Normal")

_COMMON_SYS = (
    _f("Owner", "ownerlookup", 120, label="Owner"), _sys("Created_By", "userlookup"),
    _sys("Modified_By", "userlookup"), _sys("Created_Time", "datetime"), _sys("Modified_Time", "datetime"),
    _sys("Last_Activity_Time", "datetime"), _sys("Locked__s", "boolean"),
    _f("Tag", "text", read_only=True, json="jsonarray"),  # Zoho calls it text; values are [{name, id}]
)
_ADDRESS = tuple(
    fd for side in ("Billing", "Shipping") for fd in (
        _f(f"{side}_Street", "text", 250), _f(f"{side}_City", "text", 30), _f(f"{side}_State", "text", 30),
        _f(f"{side}_Code", "text", 30), _f(f"{side}_Country", "text", 60),
        _f(f"{side}_Flat_House_No_Building_Apartment_Name", "text", 255),
        _f(f"{side}_Latitude", "double", 12, decimals=9), _f(f"{side}_Longitude", "double", 12, decimals=9),
        _sys(f"{side}_Address", "text"), _sys(f"{side}_Coordinates", "text"),
    )
)
_OUTPUTS = (
    _f("Risk_Score", "double", 5, decimals=1, custom=True), _f("Risk_Tier", "picklist", values=TIERS, custom=True),
    _f("Risk_Reasons", "textarea", 1000, custom=True), _f("Risk_Recommended_Terms", "integer", 3, custom=True),
)
_OUTPUTS_TAIL = (
    _f("Risk_Scored_At", "datetime", custom=True), _f("Risk_Model_Version", "text", 40, custom=True),
)

ACCOUNTS: tuple[FieldDef, ...] = (
    *_COMMON_SYS, _f("Account_Name", "text", 255, mandatory=True), _f("Account_Number", "text", 40),
    _f("Account_Site", "text", 30),
    _f("Account_Type", "picklist", values=("Analyst", "Competitor", "Customer", "Distributor", "Integrator",
                                           "Investor", "Other", "Partner", "Press", "Prospect", "Reseller",
                                           "Supplier", "Vendor")),
    _f("Industry", "picklist", values=_INDUSTRY), _f("Currency", "picklist", values=_CURRENCIES),
    _cur("Annual_Revenue"), _f("Employees", "integer", 9), _f("Description", "textarea", 32000),
    _f("Phone", "phone", 30), _f("Fax", "phone", 30), _f("Website", "website", 255),
    _f("Ownership", "picklist", values=("Government", "Partnership", "Private", "Privately Held",
                                        "Public Company", "Subsidiary", "Other")),
    _f("Rating", "picklist", values=("Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down")),
    _f("SIC_Code", "integer", 9), _f("Ticker_Symbol", "text", 30),
    _f("Parent_Account", "lookup", lookup="Accounts"), *_ADDRESS,
    _sys("Record_Image", "profileimage"), _sys("nearby_distance__s", "double"),
    # riskbridge inputs
    _f("Bureau_Score", "text", 20, custom=True), _f("Bureau_Rating", "text", 5, custom=True),
    _f("Internal_Rating", "integer", 2, custom=True), _cur("Credit_Limit", custom=True),
    _f("Payment_Terms_Days", "integer", 3, custom=True), _cur("Current_Assets", custom=True),
    _cur("Current_Liabilities", custom=True), _cur("Inventory", custom=True), _cur("Total_Assets", custom=True),
    _cur("Total_Liabilities", custom=True), _cur("Net_Income", custom=True),
    _cur("Operating_Cash_Flow", custom=True),
    _f("Audit_Opinion", "picklist", values=("unqualified", "qualified", "adverse", "disclaimer"), custom=True),
    _f("Statement_Date", "text", 30, custom=True), _cur("Open_Receivables", custom=True),
    _cur("Overdue_Amount", custom=True), _f("Max_Days_Past_Due", "integer", 4, custom=True),
    _f("Avg_Days_Late", "double", 5, decimals=1, custom=True), _f("Disputes_12m", "integer", 3, custom=True),
    _f("Complaints_12m", "integer", 3, custom=True), _f("Customer_Since", "date", custom=True),
    _f("Sanctions_Hit", "boolean", custom=True), _f("Insolvency", "boolean", custom=True),
    # riskbridge outputs (provisioned) and the human override
    *_OUTPUTS, _cur("Risk_Credit_Limit", custom=True), _f("Risk_Watchlist", "boolean", custom=True),
    *_OUTPUTS_TAIL, _f("Risk_Override_Tier", "picklist", values=TIERS, custom=True),
    _f("Risk_Override_Reason", "text", 255, custom=True), _f("Risk_Override_Until", "date", custom=True),
)
DEALS: tuple[FieldDef, ...] = (
    *_COMMON_SYS, _f("Deal_Name", "text", 120, mandatory=True), _f("Account_Name", "lookup", lookup="Accounts"),
    _f("Contact_Name", "lookup", lookup="Contacts"), _f("Campaign_Source", "lookup", lookup="Campaigns"),
    _cur("Amount"), _f("Stage", "picklist", values=STAGES, mandatory=True),
    _f("Closing_Date", "date", mandatory=True), _f("Probability", "integer", 3),
    _sys("Expected_Revenue", "currency"), _f("Next_Step", "text", 100),
    _f("Type", "picklist", values=("Existing Business", "New Business")),
    _f("Lead_Source", "picklist", values=("Advertisement", "Cold Call", "Employee Referral", "External Referral",
                                          "Online Store", "Partner", "Public Relations", "Sales Email Alias",
                                          "Seminar Partner", "Internal Seminar", "Trade Show", "Web Download",
                                          "Web Research", "Chat")),
    _f("Reason_For_Loss__s", "picklist", values=("Lost to competitor", "Price", "Need", "Timing", "Other"),
       label="Reason For Loss"),
    _f("Description", "textarea", 32000), _sys("Lead_Conversion_Time", "integer"),
    _sys("Overall_Sales_Duration", "integer"), _sys("Sales_Cycle_Duration", "integer"),
    _f("Payment_Terms_Days", "integer", 3, custom=True),
    *_OUTPUTS, _f("Risk_Flags", "text", 255, custom=True), *_OUTPUTS_TAIL,
)
TASKS: tuple[FieldDef, ...] = (
    *_COMMON_SYS, _f("Subject", "text", 255, mandatory=True), _f("Due_Date", "date"),
    _f("What_Id", "lookup", lookup="$se_module", label="Related To"), _f("Who_Id", "lookup", lookup="Contacts"),
    _f("Status", "picklist", values=TASK_STATUS), _f("Priority", "picklist", values=TASK_PRIORITY),
    _f("Description", "textarea", 32000), _f("Send_Notification_Email", "boolean"),
    _f("Remind_At", "jsonobject"), _f("Recurring_Activity", "jsonobject"), _sys("Closed_Time", "datetime"),
    _sys("BEST_TIME", "jsonarray"), _f("Riskbridge_Key", "text", 120, custom=True, unique=True),
)
CONTACTS: tuple[FieldDef, ...] = (
    *_COMMON_SYS, _f("Salutation", "picklist", values=("Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")),
    _f("First_Name", "text", 40), _f("Last_Name", "text", 80, mandatory=True), _sys("Full_Name", "text"),
    _f("Account_Name", "lookup", lookup="Accounts"), _f("Email", "email", 100), _f("Secondary_Email", "email", 100),
    _f("Phone", "phone", 30), _f("Mobile", "phone", 30), _f("Title", "text", 100), _f("Department", "text", 100),
    _f("Lead_Source", "picklist", values=("Advertisement", "Cold Call", "Employee Referral", "External Referral",
                                          "Partner", "Trade Show", "Web Research")),
    _f("Mailing_Country", "text", 100), _f("Email_Opt_Out", "boolean"), _f("Description", "textarea", 32000),
)
CAMPAIGNS: tuple[FieldDef, ...] = (
    *_COMMON_SYS, _f("Campaign_Name", "text", 120, mandatory=True),
    _f("Type", "picklist", values=("Advertisement", "Banner Ads", "Conference", "Email", "Partner", "Public Relations",
                                   "Referral Program", "Telemarketing", "Trade Show", "Webinar", "Others")),
    _f("Status", "picklist", values=("Planning", "Active", "Inactive", "Complete")), _f("Start_Date", "date"),
    _f("End_Date", "date"), _cur("Expected_Revenue"), _cur("Budgeted_Cost"), _cur("Actual_Cost"),
    _f("Expected_Response", "integer", 9), _f("Num_sent", "integer", 9), _f("Description", "textarea", 32000),
)
# metadata ids are derived from a module's position here, so new modules go at the end
MODULES = ("Accounts", "Deals", "Tasks", "Contacts", "Campaigns")
MODULE_IDS = {m: make_id(900000 + n) for m, n in (("Accounts", 8), ("Campaigns", 9), ("Contacts", 10),
                                                  ("Deals", 11), ("Tasks", 12))}
Layouts = Mapping[str, dict[str, FieldDef]]  # module -> api name -> field
PROVISIONED: dict[str, dict[str, FieldDef]] = {
    name: {fd.api_name: fd for fd in defs} for name, defs in (
        ("Accounts", ACCOUNTS), ("Deals", DEALS), ("Tasks", TASKS), ("Contacts", CONTACTS), ("Campaigns", CAMPAIGNS))
}
_SERVING: ContextVar[Layouts | None] = ContextVar("zoho_org_layouts", default=None)


class _ServingLayouts(Mapping[str, dict[str, FieldDef]]):
    """The layouts of the org serving the current request; the provisioned ones outside a request.

    Each sandbox org owns its layouts (variants differ, and `POST settings/fields` adds to them). Code
    that is not handed the org, such as the shared record reader, reaches the right one through this.
    """

    def _layouts(self) -> Layouts:
        return _SERVING.get() or PROVISIONED

    def __getitem__(self, module: str) -> dict[str, FieldDef]:
        return self._layouts()[module]

    def __iter__(self) -> Iterator[str]:
        return iter(self._layouts())

    def __len__(self) -> int:
        return len(self._layouts())


FIELDS: Layouts = _ServingLayouts()


@contextmanager
def serving(layouts: Layouts) -> Iterator[None]:
    """Make `FIELDS` show one org's layouts for the duration of a request (per thread and task)."""
    token = _SERVING.set(layouts)
    try:
        yield
    finally:
        _SERVING.reset(token)

_APPROVAL = {"delegate": False, "takeover": False, "approve": False, "reject": False, "resubmit": False}
_REVIEW = {"approve": False, "reject": False, "resubmit": False}


def _system_keys(module: str, layout: int) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "$approval": _APPROVAL, "$approval_state": "approved", "$approved": True, "$editable": True,
        "$field_states": None, "$in_merge": False, "$locked_for_me": False, "$orchestration": False,
        "$process_flow": False, "$review": None, "$review_process": _REVIEW, "$state": "save",
        "$zia_owner_assignment": "owner_recommendation_unavailable",
    }
    if module == "Tasks":
        keys.update({"$review_process": None, "$se_module": None, "$u_id": None})
    else:
        keys["$layout_id"] = {"display_label": "Standard", "name": "Standard", "id": make_id(91000 + layout)}
    if module == "Accounts":
        keys["$is_duplicate"] = False
    return keys


# `$`-prefixed keys a record carries, with their values when nothing else is known
SYSTEM_KEYS: dict[str, dict[str, Any]] = {m: _system_keys(m, i) for i, m in enumerate(MODULES)}


def metadata(module: str, layouts: Layouts | None = None) -> list[dict[str, Any]]:
    """`settings/fields` entries for every field of a module, in the real metadata shape."""
    return [field_metadata(module, i, fd) for i, fd in enumerate((layouts or FIELDS)[module].values())]


def field_metadata(module: str, i: int, fd: FieldDef) -> dict[str, Any]:
    """One `settings/fields` entry; `i` is the field's position in its layout, which fixes its id."""
    module_no = MODULES.index(module)
    return {
        "api_name": fd.api_name, "field_label": fd.label, "display_label": fd.label,
        "data_type": fd.data_type, "json_type": fd.json_type, "custom_field": fd.custom,
        "read_only": fd.read_only, "field_read_only": fd.read_only or fd.api_name == "Owner",
        "system_mandatory": fd.mandatory,
        "length": fd.length if fd.length is not None else _DEFAULT_LENGTH.get(fd.data_type, 255),
        "decimal_place": fd.decimals, "id": make_id(600000 + module_no * 1000 + i),
        "pick_list_values": [
            {"display_value": v, "actual_value": v, "sequence_number": n, "type": "used",
             "id": make_id(700000 + module_no * 10000 + i * 50 + n)}
            for n, v in enumerate(("-None-", *fd.values) if fd.values else ())
        ],
        "unique": {"casesensitive": False} if fd.unique else {},
        "lookup": _lookup_meta(fd, module_no, i), "visible": True, "type": "used",
        "created_source": "crm_api" if fd.custom else "default", "sortable": fd.json_type != "jsonarray",
        "filterable": fd.json_type != "jsonarray", "searchable": fd.data_type in ("text", "email", "phone"),
        "mass_update": not fd.read_only, "webhook": True, "virtual_field": False, "tooltip": fd.tooltip,
        "operation_type": {"web_update": not fd.read_only, "api_create": not fd.read_only,
                           "web_create": not fd.read_only, "api_update": not fd.read_only},
        "view_type": {"view": True, "edit": not fd.read_only, "quick_create": fd.mandatory,
                      "create": not fd.read_only},
        "currency": {"rounding_option": "normal", "precision": 2 if fd.decimals is None else fd.decimals}
        if fd.data_type == "currency" else {},
        "formula": {}, "auto_number": {}, "multiselectlookup": {}, "crypt": None, "private": None,
        "history_tracking": None, "external": None, "parent_field": None, "association_details": None,
    }


def _lookup_meta(fd: FieldDef, module_no: int, i: int) -> dict[str, Any]:
    if fd.data_type != "lookup" or fd.lookup is None:
        return {}
    target = "Accounts" if fd.lookup == "$se_module" else fd.lookup
    return {"display_label": fd.label, "api_name": fd.api_name, "id": make_id(800000 + module_no * 1000 + i),
            "module": {"api_name": target, "id": MODULE_IDS[target]}}


def _invalid(fd: FieldDef, path: str, **extra: Any) -> FieldError:
    return FieldError("INVALID_DATA", "invalid data", {"api_name": fd.api_name, "json_path": path, **extra})


def _digits_ok(fd: FieldDef, value: float) -> bool:
    if fd.length is None:
        return True
    whole = len(str(int(abs(value))))
    return whole <= fd.length - (fd.decimals or 0) if fd.decimals else whole <= fd.length


def validate(fd: FieldDef, value: Any, path: str) -> tuple[Any, FieldError | None]:
    """Check one value against its field; return the value as stored, or the per-record error."""
    if value is None:
        if fd.mandatory:
            return None, FieldError("MANDATORY_NOT_FOUND", "required field not found",
                                    {"api_name": fd.api_name, "json_path": path})
        return (False if fd.data_type == "boolean" else None), None
    dt = fd.data_type
    if dt in ("text", "textarea", "email", "phone", "website"):
        if not isinstance(value, str):
            return None, _invalid(fd, path, expected_data_type=dt)
        if fd.length is not None and len(value) > fd.length:
            return None, _invalid(fd, path, maximum_length=fd.length)
        return value, None
    if dt == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, _invalid(fd, path, expected_data_type="integer")
        return (value, None) if _digits_ok(fd, value) else (None, _invalid(fd, path, maximum_length=fd.length))
    if dt in ("double", "currency", "percent"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            return None, _invalid(fd, path, expected_data_type=dt)
        if not _digits_ok(fd, value):
            return None, _invalid(fd, path, maximum_length=fd.length)
        number = round(float(value), fd.decimals if fd.decimals is not None else 2)
        return (int(number) if number.is_integer() else number), None
    if dt == "boolean":
        return (value, None) if isinstance(value, bool) else (None, _invalid(fd, path, expected_data_type=dt))
    if dt == "date":
        if isinstance(value, str) and _DATE_RE.match(value):
            try:
                return date.fromisoformat(value).isoformat(), None
            except ValueError:
                pass
        return None, _invalid(fd, path, expected_data_type="date")
    if dt == "datetime":
        moment = parse_dt(value) if isinstance(value, str) else None
        return (fmt_dt(moment), None) if moment else (None, _invalid(fd, path, expected_data_type="datetime"))
    if dt == "picklist":
        if not isinstance(value, str):
            return None, _invalid(fd, path, expected_data_type="picklist")
        if value == "-None-":
            return validate(fd, None, path)
        if value not in fd.values:
            return None, _invalid(fd, path, supported_values=list(fd.values))
        return value, None
    if dt == "jsonobject":
        return (value, None) if isinstance(value, dict) else (None, _invalid(fd, path, expected_data_type=dt))
    # lookups are resolved by the store, which knows the records
    if not isinstance(value, dict) or not isinstance(value.get("id"), str | int):
        return None, _invalid(fd, path, expected_data_type="jsonobject")
    return {"id": str(value["id"])}, None
