"""The Fxiaoke sandbox's objects, their fields, and the org variants (provisioned, bare, renamed).

- `provisioned`: riskbridge's credit inputs (`bureau_score__c` …), outputs (`risk_score__c` …), the override
  fields, both watchlist forms (`risk_watchlist__c` select_many, `risk_on_watchlist__c` true_or_false),
  the follow-up key `risk_alert_key__c` on ActiveRecordObj, and the custom object `object_RiskTask__c`.
- `bare`: the preset objects with their package fields only.
- `renamed`: preset fields plus the credit inputs under system-generated names (`field_k3x9a__c`) with
  Chinese labels, drawn with the seed, as a tenant's admin console creates them. No riskbridge outputs.

Every variant holds the same companies for a seed; `OrgSchema.canonical` says where each canonical
input lives (`GET /__sandbox/org`). Objects whose api name ends with `__c` are custom objects.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from connector.sandbox.fxiaoke_fields import NUMERIC, FieldDef, date_ms, fmt_number

__all__ = ["INPUT_FIELDS", "OPPORTUNITY_OBJECTS", "OBJECT_LABELS", "TIERS", "VARIANTS", "WATCH_OPTIONS", "OrgSchema",
           "Variant", "field_value", "org_schema"]

Variant = Literal["provisioned", "bare", "renamed"]
VARIANTS: tuple[Variant, ...] = ("provisioned", "bare", "renamed")
TIERS = (("low", "低"), ("medium", "中"), ("high", "高"), ("critical", "严重"))
WATCH_OPTIONS = (("credit_watch", "信用观察"), ("overdue", "逾期关注"), ("key_account", "重点客户"))
OBJECT_LABELS = {"AccountObj": "客户", "NewOpportunityObj": "商机2.0", "OpportunityObj": "商机",
                 "ActiveRecordObj": "销售记录", "ContactObj": "联系人", "object_RiskTask__c": "风险跟进任务"}
OPPORTUNITY_OBJECTS = ("NewOpportunityObj", "OpportunityObj")

_LIFE = (("normal", "正常"), ("ineffective", "未生效"), ("under_review", "审核中"), ("in_change", "变更中"),
         ("invalid", "作废"))


def _f(api: str, label: str, kind: str, **kw: Any) -> FieldDef:
    return FieldDef(api, label, kind, custom=api.endswith("__c"), **kw)


def _money(api: str, label: str) -> FieldDef:
    return _f(api, label, "currency", decimal_places=2)


def _int(api: str, label: str) -> FieldDef:
    return _f(api, label, "number", decimal_places=0)


_SYSTEM = (
    _f("_id", "ID", "text", read_only=True), _f("owner", "负责人", "employee", required=True),
    _f("owner_department", "负责人主属部门", "text", read_only=True),
    _f("created_by", "创建人", "employee", read_only=True), _f("create_time", "创建时间", "date_time", read_only=True),
    _f("last_modified_by", "最后修改人", "employee", read_only=True),
    _f("last_modified_time", "最后修改时间", "date_time", read_only=True),
    _f("life_status", "生命状态", "select_one", options=_LIFE, read_only=True),
    _f("lock_status", "锁定状态", "select_one", options=(("0", "未锁定"), ("1", "锁定")), read_only=True),
    _f("is_deleted", "是否删除", "true_or_false", read_only=True),
    _f("record_type", "业务类型", "select_one", options=(("default__c", "预设业务类型"),)),
    _f("version", "版本", "number", decimal_places=0, read_only=True),
)
INDUSTRY_OPTIONS = (
    ("1", "制造业"), ("2", "批发零售"), ("3", "建筑业"), ("4", "信息技术"), ("5", "金融业"), ("6", "能源"),
    ("7", "交通运输"), ("8", "食品饮料"), ("9", "化工"), ("10", "电子"), ("11", "咨询服务"), ("12", "住宿餐饮"),
    ("13", "电信"), ("14", "农林牧渔"), ("15", "机械设备"), ("16", "纺织服装"), ("17", "航运物流"),
    ("18", "文化传媒"), ("19", "公用事业"), ("20", "生物医药"), ("21", "教育"), ("22", "保险"), ("23", "工程技术"),
    ("24", "医疗健康"),
)
_ACCOUNT = (
    _f("name", "客户名称", "text", required=True, max_length=100), _f("account_no", "客户编号", "text"),
    _f("uniform_social_credit_code", "统一社会信用代码", "text", max_length=18),
    _f("industry", "行业", "select_one", options=INDUSTRY_OPTIONS),
    _f("account_level", "客户级别", "select_one", options=(("1", "重要客户"), ("2", "普通客户"), ("3", "小客户"))),
    _f("account_source", "来源", "select_one", options=(("1", "展会"), ("2", "转介绍"), ("3", "官网"), ("4", "电话营销"))),
    _f("deal_status", "成交状态", "select_one", options=(("1", "未成交"), ("2", "已成交"), ("3", "多次成交"))),
    _f("country", "国家", "text"), _f("province", "省", "text"), _f("city", "市", "text"), _f("district", "区", "text"),
    _f("address", "详细地址", "text", max_length=300), _f("tel", "电话", "phone_number"), _f("url", "网址", "url"),
    _f("mc_currency", "币种", "select_one", options=(("CNY", "人民币"), ("USD", "美元"), ("EUR", "欧元"), ("HKD", "港币"))),
    _money("annual_revenue", "年销售额"), _money("registered_capital", "注册资本"),
    _f("last_followed_time", "最后跟进时间", "date_time", read_only=True), _f("remark", "备注", "long_text"),
)
_SALES_STAGES = (("1", "验证客户"), ("2", "需求确定"), ("3", "方案/报价"), ("4", "谈判审核"), ("5", "赢单"), ("6", "输单"))
_NEW_OPPORTUNITY = (
    _f("name", "商机名称", "text", required=True, max_length=100),
    _f("account_id", "客户名称", "object_reference", required=True, target="AccountObj"),
    _money("amount", "商机金额"), _f("sales_stage", "阶段", "select_one", options=_SALES_STAGES),
    _f("probability", "赢率", "percentile", decimal_places=0),
    _f("sales_status", "状态", "select_one", options=(("1", "进行中"), ("2", "赢单"), ("3", "输单"), ("4", "无效"))),
    _f("close_date", "预计成交日期", "date"),
)
_OPPORTUNITY = (
    _f("name", "商机名称", "text", required=True), _f("account_id", "客户名称", "object_reference", target="AccountObj"),
    _f("expected_deal_closed_date", "预计成交日期", "date"), _f("probability", "赢率", "percentile", decimal_places=0),
    _f("oppo_stage_id", "商机阶段", "text"), _money("expected_deal_amount", "预计成交金额"),
    _f("biz_status", "状态", "select_one", options=(("1", "进行中"), ("2", "赢单"), ("3", "输单"))),
)
_ACTIVE_RECORD = (
    _f("name", "编号", "auto_number", read_only=True),
    _f("active_record_content", "跟进内容", "long_text", required=True, max_length=5000),
    _f("account_id", "客户名称", "object_reference", target="AccountObj"),
    _f("new_opportunity_id", "商机2.0", "object_reference", target="NewOpportunityObj"),
    _f("interactive_types", "跟进方式", "select_one", options=(("1", "电话"), ("2", "拜访"), ("3", "邮件"), ("4", "微信"))),
    _f("related_object_data", "关联对象", "related_object_data"),
)
_RISK_TASK = (
    _f("name", "主题", "text", required=True, max_length=200),
    _f("account__c", "客户", "object_reference", target="AccountObj"), _f("due_date__c", "截止日期", "date"),
    _f("status__c", "状态", "select_one", options=(("open", "未开始"), ("done", "已完成"))),
    _f("content__c", "内容", "long_text"), _f("risk_alert_key__c", "风险提醒键", "text", max_length=120),
)
INPUT_FIELDS: dict[str, FieldDef] = {  # canonical input -> its provisioned field
    "bureau_score": _f("bureau_score__c", "征信评分", "text", max_length=20),
    "bureau_rating": _f("bureau_rating__c", "征信等级", "select_one", options=tuple((g, g) for g in "ABCDE")),
    "internal_rating": _int("internal_rating__c", "内部评级"), "credit_limit": _money("credit_limit__c", "信用额度"),
    "payment_terms_days": _int("payment_terms_days__c", "账期(天)"),
    "current_assets": _money("current_assets__c", "流动资产"),
    "current_liabilities": _money("current_liabilities__c", "流动负债"), "inventory": _money("inventory__c", "存货"),
    "total_assets": _money("total_assets__c", "资产总额"), "total_liabilities": _money("total_liabilities__c", "负债总额"),
    "net_income": _money("net_income__c", "净利润"), "operating_cash_flow": _money("operating_cash_flow__c", "经营现金流"),
    "audit_opinion": _f("audit_opinion__c", "审计意见", "select_one", options=(
        ("unqualified", "标准无保留意见"), ("qualified", "保留意见"), ("adverse", "否定意见"), ("disclaimer", "无法表示意见"))),
    "statement_date": _f("statement_date__c", "财报日期", "date"),
    "open_receivables": _money("open_receivables__c", "应收账款"), "overdue_amount": _money("overdue_amount__c", "逾期金额"),
    "max_days_past_due": _int("max_days_past_due__c", "最长逾期天数"),
    "avg_days_late": _f("avg_days_late__c", "平均逾期天数", "number", decimal_places=1),
    "disputes_12m": _int("disputes_12m__c", "争议次数(12个月)"), "complaints_12m": _int("complaints_12m__c", "投诉次数(12个月)"),
    "customer_since": _f("customer_since__c", "合作开始日期", "date"),
    "sanctions_hit": _f("sanctions_hit__c", "制裁命中", "true_or_false"), "insolvency": _f("insolvency__c", "破产清算", "true_or_false"),
}
_OUTPUTS = (
    _f("risk_score__c", "风险评分", "number", decimal_places=1),
    _f("risk_tier__c", "风险等级", "select_one", options=TIERS),
    _f("risk_reasons__c", "风险原因", "long_text", max_length=2000), _int("risk_recommended_terms__c", "建议账期(天)"),
)
_OUTPUTS_TAIL = (_f("risk_scored_at__c", "评分时间", "date_time"), _f("risk_model_version__c", "模型版本", "text", max_length=100))
_ACCOUNT_RISK = (
    *_OUTPUTS, _money("risk_credit_limit__c", "建议信用额度"),
    _f("risk_watchlist__c", "风险关注", "select_many", options=WATCH_OPTIONS),
    _f("risk_on_watchlist__c", "风险观察名单", "true_or_false"), *_OUTPUTS_TAIL,
    _f("risk_override_tier__c", "人工风险等级", "select_one", options=TIERS),
    _f("risk_override_reason__c", "人工调整原因", "text", max_length=250),
    _f("risk_override_until__c", "人工调整有效期至", "date"),
)
_STANDARD_ACCOUNT = {"name": "name", "owner_id": "owner", "country": "country", "industry": "industry",
                     "currency": "mc_currency", "annual_revenue": "annual_revenue"}
_STANDARD_DEAL = {"account_id": "account_id", "name": "name", "owner_id": "owner", "amount": "amount",
                  "stage": "sales_stage", "close_date": "close_date", "probability": "probability"}
_LEGACY_DEAL = {"account_id": "account_id", "name": "name", "owner_id": "owner", "amount": "expected_deal_amount",
                "stage": "oppo_stage_id", "close_date": "expected_deal_closed_date", "probability": "probability"}
_OVERRIDES = {"override_tier": "risk_override_tier__c", "override_reason": "risk_override_reason__c",
              "override_until": "risk_override_until__c"}


@dataclass
class OrgSchema:
    """One tenant's objects, their fields, and where its canonical inputs live."""

    variant: Variant
    fields: dict[str, dict[str, FieldDef]]  # object api name -> field api name -> definition
    canonical: dict[str, dict[str, str]]  # {"accounts": {canonical: api_name}, "deals": {...}}
    deal_object: str = "NewOpportunityObj"  # the opportunity object this tenant runs; the other is inactive

    def is_active(self, obj: str) -> bool:
        return obj not in OPPORTUNITY_OBJECTS or obj == self.deal_object

    def report(self) -> dict[str, Any]:
        """The `GET /__sandbox/org` body."""
        return {"variant": self.variant, "fields": {k: dict(v) for k, v in self.canonical.items()},
                "objects": sorted(self.fields), "deal_object": self.deal_object}


def _layout(*groups: tuple[FieldDef, ...]) -> dict[str, FieldDef]:
    return {fd.api_name: fd for group in groups for fd in group}


def org_schema(variant: str, seed: int, deal_object: str = "NewOpportunityObj") -> OrgSchema:
    """A fresh schema of one variant; a renamed org draws its field names with the seed.

    `deal_object` is the opportunity object the tenant runs (商机2.0 `NewOpportunityObj` or the legacy
    `OpportunityObj`); riskbridge's deal fields and the generated deals live on it.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown Fxiaoke org variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if deal_object not in OPPORTUNITY_OBJECTS:
        raise ValueError(f"unknown Fxiaoke opportunity object {deal_object!r}; choose {' or '.join(OPPORTUNITY_OBJECTS)}")
    fields = {"AccountObj": _layout(_SYSTEM, _ACCOUNT), "NewOpportunityObj": _layout(_SYSTEM, _NEW_OPPORTUNITY),
              "OpportunityObj": _layout(_SYSTEM, _OPPORTUNITY), "ActiveRecordObj": _layout(_SYSTEM, _ACTIVE_RECORD)}
    accounts = dict(_STANDARD_ACCOUNT)
    deals = dict(_STANDARD_DEAL if deal_object == "NewOpportunityObj" else _LEGACY_DEAL)
    if variant == "provisioned":
        fields["AccountObj"].update(_layout(tuple(INPUT_FIELDS.values()), _ACCOUNT_RISK))
        terms = INPUT_FIELDS["payment_terms_days"]
        fields[deal_object].update(_layout((terms,), _OUTPUTS, (_f("risk_flags__c", "风险提示", "text"),),
                                                   _OUTPUTS_TAIL))
        fields["ActiveRecordObj"]["risk_alert_key__c"] = _f("risk_alert_key__c", "风险提醒键", "text", max_length=120)
        fields["object_RiskTask__c"] = _layout(_SYSTEM, _RISK_TASK)
        accounts.update({k: fd.api_name for k, fd in INPUT_FIELDS.items()} | _OVERRIDES)
        deals["payment_terms_days"] = terms.api_name
    elif variant == "renamed":
        rng = random.Random(f"fxiaoke-renamed:{seed}")
        for key, fd in [*INPUT_FIELDS.items(), ("deal:payment_terms_days", INPUT_FIELDS["payment_terms_days"])]:
            api = "field_" + "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(5)) + "__c"
            renamed = FieldDef(api, fd.label, fd.type, custom=True, options=fd.options,
                               decimal_places=fd.decimal_places, max_length=fd.max_length)
            if key.startswith("deal:"):
                fields[deal_object][api] = FieldDef(api, "付款天数", fd.type, custom=True, decimal_places=0)
                deals["payment_terms_days"] = api
            else:
                fields["AccountObj"][api] = renamed
                accounts[key] = api
    return OrgSchema(variant, fields, {"accounts": accounts, "deals": deals}, deal_object)


_DIRTY_DATES = ("%Y-%m-%d", "%d/%m/%Y", "%Y.%m.%d", "%b %d, %Y")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def field_value(fd: FieldDef, value: Any) -> Any:
    """A canonical value as a field of this type holds it on the wire (None when the type cannot hold it)."""
    if value is None:
        return None
    kind = fd.type
    if kind in ("text", "long_text"):
        text = value if isinstance(value, str) else str(value)
        return text[: fd.max_length] if fd.max_length else text
    if kind == "true_or_false":
        return bool(value)
    if kind in NUMERIC or kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):  # generated numbers: the fast path
            return f"{value:.{fd.decimal_places or 0}f}"
        text = str(value).strip()
        return fmt_number(fd, text) if _NUMBER.match(text) else None
    if kind == "date":
        day = _as_date(value)
        return None if day is None else date_ms(day)
    if kind == "select_one":
        return value if value in fd.values else None
    return value


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        pass
    for fmt in _DIRTY_DATES[1:]:
        try:
            return datetime.strptime(str(value).strip(), fmt).date()
        except ValueError:
            continue
    return None
