"""Fxiaoke metadata reader for `check`, `provision` and `mappings suggest`.

    describe  POST /cgi/crm/v2/object/describe {"apiName": X}   data.describe.fields.<api_name>

Fxiaoke has no public API that creates fields: `provision` lists each missing field with the exact type
to pick in 管理后台 → 对象管理 → <object> → 字段管理 → 新建字段 (`console_type`), and creates nothing. A
custom field's api name is the admin's choice there (or system-generated, ``field_XXXXX__c``): the
mapping must then name what the console made. Field access follows the operator's role.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.admin.metadata import FieldKind, FieldMeta, FieldSpecLike, ObjectMeta, OrgMeta
from connector.config import FxiaokeConnection
from connector.crm.base import RetryPolicy
from connector.crm.fxiaoke import FxiaokeClient
from connector.crm.fxiaoke_wire import FxiaokeFatal
from connector.errors import Fatal

__all__ = ["NO_FIELD_API", "FxiaokeAdmin", "console_type"]

log = logging.getLogger(__name__)

NO_FIELD_API = ("Fxiaoke has no public field-creation API: create it in 管理后台 → 对象管理 → 字段管理 → 新建字段, "
                "then run `riskbridge check`")
_KINDS: dict[str, FieldKind] = {
    "text": "text", "email": "text", "phone_number": "text", "url": "text", "auto_number": "text",
    "long_text": "textarea", "select_one": "picklist", "select_many": "multipicklist", "number": "number",
    "currency": "currency", "percentile": "percent", "date": "date", "date_time": "datetime",
    "true_or_false": "boolean", "object_reference": "reference", "employee": "reference", "department": "reference",
}
_OBJECT_LABELS = {"AccountObj": "客户", "NewOpportunityObj": "商机2.0", "OpportunityObj": "商机",
                  "ActiveRecordObj": "销售记录"}


def _field(name: str, entry: dict[str, Any]) -> FieldMeta:
    kind = "id" if name == "_id" else _KINDS.get(str(entry.get("type") or ""), "other")
    places = entry.get("decimal_places")
    scale = int(places) if isinstance(places, int | str) and str(places).isdigit() else 0
    length = entry.get("max_length")
    options = tuple(str(o.get("value")) for o in entry.get("options") or [] if isinstance(o, dict))
    # Fxiaoke has neither external ids nor upserts: the client looks a follow-up's key up before every
    # create, so any text field can carry the key and counts as one here.
    keyish = kind == "text"
    return FieldMeta(
        name=name, label=str(entry.get("label") or ""), kind=kind, crm_type=str(entry.get("type") or ""),
        length=int(length) if isinstance(length, int) else 0, precision=18 if kind in ("number", "currency") else 0,
        scale=scale, picklist=options, updateable=not entry.get("is_readonly"), external_id=keyish,
        unique=keyish or bool(entry.get("is_unique")), custom=entry.get("define_type") == "custom")


def console_type(spec: FieldSpecLike, object_name: str, conn: FxiaokeConnection | None = None) -> str:
    """The field as the admin creates it in Fxiaoke's console: type (api type), size, options, api name."""
    where = f"{_OBJECT_LABELS.get(object_name, object_name)} ({object_name})"
    kind = spec.kind
    if kind == "boolean" and spec.field and conn is not None and conn.watchlist_style == "select_many" \
            and "watch" in spec.field.lower():
        kind_text = f"多选 (select_many), options include {conn.watchlist_option}"
    elif kind == "text":
        kind_text = f"单行文本 (text), max {spec.length or 100} characters"
    elif kind == "textarea":
        kind_text = f"多行文本 (long_text), max {spec.length or 2000} characters"
    elif kind in ("number", "integer", "percent"):
        kind_text = f"数字 (number), {spec.scale} decimal place(s)"
    elif kind == "currency":
        kind_text = f"金额 (currency), {spec.scale or 2} decimal places"
    elif kind == "picklist":
        kind_text = f"单选 (select_one), option values {', '.join(spec.picklist)}"
    elif kind == "multipicklist":
        kind_text = f"多选 (select_many), option values {', '.join(spec.picklist)}"
    else:
        kind_text = {"boolean": "布尔值 (true_or_false)", "date": "日期 (date)",
                     "datetime": "日期时间 (date_time)"}.get(kind, kind)
    return f"on {where}: {kind_text}, label {spec.label!r}, api name {spec.field}"


class FxiaokeAdmin:
    """An `OrgAdmin` for one Fxiaoke tenant: reads describe; never creates (no API for it)."""

    crm = "fxiaoke"

    def __init__(self, conn: FxiaokeConnection, *, policy: RetryPolicy | None = None) -> None:
        self.conn = conn
        self.client = FxiaokeClient(conn, policy=policy)

    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    def close(self) -> None:
        self.client.close()

    def read(self, objects: list[str], *, tags: tuple[str, ...] = ()) -> OrgMeta:
        org = OrgMeta(user_id=self.conn.operator_user_id)
        for api_name in dict.fromkeys(objects):
            try:
                fields = self.client.describe(api_name)
            except FxiaokeFatal as exc:  # an unknown object answers with a business error code
                log.info("describe %s refused (%s)", api_name, exc.detail)
                org.objects[api_name] = ObjectMeta(api_name, exists=False)
                continue
            if not fields:
                org.objects[api_name] = ObjectMeta(api_name, exists=False)
                continue
            org.objects[api_name] = ObjectMeta(api_name, label=_OBJECT_LABELS.get(api_name, api_name),
                                               fields={n: _field(n, f) for n, f in fields.items()})
        return org

    def create_field(self, object_name: str, spec: FieldSpecLike) -> str:
        raise Fatal(f"{object_name}.{spec.field}: {NO_FIELD_API}")

    def create_tag(self, object_name: str, tag: str) -> None:
        raise Fatal(f"{object_name}: Fxiaoke has no tag API; the watchlist is a select_many or true_or_false field")

    def grant(self, reads: list[tuple[str, str]], edits: list[tuple[str, str]]) -> int:
        return 0  # field access follows the operator's role, set in 管理后台 → 角色权限
