"""The Zoho sandbox's org variants: which fields an org has, and where its credit data sits.

- `provisioned`: riskbridge's inputs, outputs, override fields and task key already exist (the demo org).
- `bare`: only Zoho's standard modules and fields; no custom field of any kind.
- `renamed`: standard fields plus the credit, financial and history inputs as an org named them itself:
  other API names and labels (many Chinese, some English or German) and types, drawn per canonical
  field from `RENAMED` with the seed. No riskbridge output, override or task-key field.

Every variant holds the same companies and values for a seed; only names, labels and types differ.
`OrgSchema.canonical` says where each canonical input lives, which `GET /__sandbox/org` reports.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from connector.sandbox.zoho_fields import PROVISIONED, SYSTEM_KEYS, FieldDef

__all__ = ["INPUT_FIELDS", "RENAMED", "VARIANTS", "OrgSchema", "Variant", "api_name", "field_value",
           "org_schema", "record_template"]

Variant = Literal["provisioned", "bare", "renamed"]
VARIANTS: tuple[Variant, ...] = ("provisioned", "bare", "renamed")
INPUT_FIELDS = (
    "bureau_score", "bureau_rating", "internal_rating", "credit_limit", "payment_terms_days", "current_assets",
    "current_liabilities", "inventory", "total_assets", "total_liabilities", "net_income", "operating_cash_flow",
    "audit_opinion", "statement_date", "open_receivables", "overdue_amount", "max_days_past_due",
    "avg_days_late", "disputes_12m", "complaints_12m", "customer_since", "sanctions_hit", "insolvency",
)
_STANDARD_ACCOUNT = {"name": "Account_Name", "owner_id": "Owner", "country": "Billing_Country",
                     "industry": "Industry", "currency": "Currency", "annual_revenue": "Annual_Revenue"}
_STANDARD_DEAL = {"account_id": "Account_Name", "name": "Deal_Name", "owner_id": "Owner", "amount": "Amount",
                  "stage": "Stage", "close_date": "Closing_Date", "probability": "Probability"}
_OVERRIDES = {"override_tier": "Risk_Override_Tier", "override_reason": "Risk_Override_Reason",
              "override_until": "Risk_Override_Until"}
_OPINIONS = ("unqualified", "qualified", "adverse", "disclaimer")
_RATINGS = ("A", "B", "C", "D", "E")


def api_name(canonical: str) -> str:
    """Canonical key -> the agreed Zoho API name (`max_days_past_due` -> `Max_Days_Past_Due`)."""
    return "_".join(part[:1].upper() + part[1:] for part in canonical.split("_"))


def _c(api: str, label: str, data_type: str, length: int | None = None, **kw: Any) -> FieldDef:
    return FieldDef(api, label, data_type, length, custom=True, **kw)


def _money(api: str, label: str) -> FieldDef:
    return _c(api, label, "currency", 16, decimals=2)


# Candidates per canonical input, as orgs have named them: a Chinese org keeps pinyin or numbered API
# names behind Chinese labels, others English or German ones. Types are what such orgs chose.
RENAMED: dict[str, tuple[FieldDef, ...]] = {
    "bureau_score": (_c("Zheng_Xin_Ping_Fen", "征信评分", "integer", 3), _c("Credit_Bureau_Score", "Credit Bureau Score",
                     "text", 20), _c("Bonitaetsindex", "Bonitätsindex", "double", 5, decimals=1)),
    "bureau_rating": (_c("Xin_Yong_Deng_Ji", "信用等级", "picklist", values=_RATINGS),
                      _c("External_Credit_Grade", "External Credit Grade", "text", 5)),
    "internal_rating": (_c("Nei_Bu_Ping_Ji", "内部评级", "integer", 2), _c("Internal_Risk_Class", "Internal Risk Class",
                        "integer", 2), _c("Interne_Risikoklasse", "Interne Risikoklasse", "integer", 2)),
    "credit_limit": (_money("Xin_Yong_E_Du", "信用额度"), _money("Credit_Limit_EUR", "Credit Limit (EUR)"),
                     _money("Kreditlimit", "Kreditlimit")),
    "payment_terms_days": (_c("Zhang_Qi_Tian", "账期(天)", "integer", 3), _c("Zahlungsziel", "Zahlungsziel (Tage)",
                           "integer", 3), _c("Net_Terms", "Net Terms (days)", "integer", 3)),
    "current_assets": (_money("Liu_Dong_Zi_Chan", "流动资产"), _money("Umlaufvermoegen", "Umlaufvermögen")),
    "current_liabilities": (_money("Liu_Dong_Fu_Zhai", "流动负债"),
                            _money("Short_Term_Liabilities", "Short-term Liabilities")),
    "inventory": (_money("Cun_Huo", "存货"), _money("Stock_Value", "Stock Value")),
    "total_assets": (_money("Zi_Chan_Zong_E", "资产总额"), _money("Bilanzsumme", "Bilanzsumme")),
    "total_liabilities": (_money("Fu_Zhai_Zong_E", "负债总额"), _money("Total_Debt", "Total Debt")),
    "net_income": (_money("Jing_Li_Run", "净利润"), _money("Jahresueberschuss", "Jahresüberschuss")),
    "operating_cash_flow": (_money("Jing_Ying_Xian_Jin_Liu", "经营现金流"),
                            _money("Operating_CF", "Operating CF")),
    "audit_opinion": (_c("Shen_Ji_Yi_Jian", "审计意见", "picklist", values=_OPINIONS),
                      _c("Auditor_Opinion", "Auditor's Opinion", "picklist", values=_OPINIONS)),
    "statement_date": (_c("Cai_Bao_Ri_Qi", "财报日期", "date"), _c("FS_Date", "Financial Statement Date", "text", 30),
                       _c("Bilanzstichtag", "Bilanzstichtag", "date")),
    "open_receivables": (_money("Ying_Shou_Zhang_Kuan", "应收账款"), _money("AR_Balance", "AR Balance")),
    "overdue_amount": (_money("Yu_Qi_Jin_E", "逾期金额"), _money("Past_Due_Amount", "Past Due Amount")),
    "max_days_past_due": (_c("Yu_Qi_Tian_Shu", "逾期天数", "integer", 4),
                          _c("Days_Past_Due_Max", "Days Past Due (max)", "integer", 4)),
    "avg_days_late": (_c("Ping_Jun_Yu_Qi_Tian_Shu", "平均逾期天数", "double", 5, decimals=1),
                      _c("DSO_Days", "DSO Days", "double", 5, decimals=1)),
    "disputes_12m": (_c("Zheng_Yi_Ci_Shu", "争议次数(12个月)", "integer", 3),
                     _c("Disputes_Last_Year", "Disputes (last 12 months)", "integer", 3)),
    "complaints_12m": (_c("Tou_Su_Ci_Shu", "投诉次数(12个月)", "integer", 3),
                       _c("Reklamationen", "Reklamationen (12 Monate)", "integer", 3)),
    "customer_since": (_c("He_Zuo_Kai_Shi_Ri_Qi", "合作开始日期", "date"), _c("Client_Since", "Client Since", "date")),
    "sanctions_hit": (_c("Zhi_Cai_Ming_Zhong", "制裁命中", "boolean"), _c("Sanctions_Flag", "Sanctions List Hit",
                      "boolean")),
    "insolvency": (_c("Po_Chan_Qing_Suan", "破产清算", "boolean"), _c("Insolvenz", "Insolvenzverfahren", "boolean")),
}
RENAMED_DEAL_TERMS = (_c("Fu_Kuan_Tian_Shu", "付款天数", "integer", 3), _c("Deal_Payment_Terms", "Payment Terms (days)",
                      "integer", 3), _c("Zahlungsziel_Tage", "Zahlungsziel (Tage)", "integer", 3))


@dataclass
class OrgSchema:
    """One org's layouts and where its canonical inputs live; field creation adds to it."""

    variant: Variant
    fields: dict[str, dict[str, FieldDef]]
    canonical: dict[str, dict[str, str]]  # {"accounts": {canonical: api_name}, "deals": {...}}
    _templates: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def template(self, module: str) -> dict[str, Any]:
        """A record with every field of the module empty, as Zoho renders one (cached until a field is added)."""
        cached = self._templates.get(module)
        if cached is None:
            cached = self._templates[module] = record_template(module, self.fields[module])
        return cached

    def add(self, module: str, fd: FieldDef) -> None:
        # a new layout dict, not an insert: readers outside the store lock may be iterating the old one
        self.fields[module] = {**self.fields[module], fd.api_name: fd}
        self._templates.pop(module, None)

    def report(self) -> dict[str, Any]:
        """The `GET /__sandbox/org` body."""
        return {"variant": self.variant, "fields": {k: dict(v) for k, v in self.canonical.items()}}


def record_template(module: str, layout: dict[str, FieldDef]) -> dict[str, Any]:
    """A record of this layout with every field empty, as Zoho renders one."""
    out: dict[str, Any] = dict(SYSTEM_KEYS[module])
    for fd in layout.values():
        out[fd.api_name] = False if fd.data_type == "boolean" else None
    out["Tag"] = []
    if module == "Accounts":
        out.update({"Billing_Address": "", "Shipping_Address": "", "Billing_Coordinates": "",
                    "Shipping_Coordinates": "", "Account_Number": "0"})
    if module == "Tasks":
        out["BEST_TIME"] = []
    return out


def org_schema(variant: str, seed: int) -> OrgSchema:
    """A fresh schema of one variant; a renamed org draws its field names with the seed."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown Zoho org variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    standard = {m: {k: fd for k, fd in layout.items() if not fd.custom} for m, layout in PROVISIONED.items()}
    accounts, deals = dict(_STANDARD_ACCOUNT), dict(_STANDARD_DEAL)
    if variant == "provisioned":
        fields = {m: dict(layout) for m, layout in PROVISIONED.items()}
        accounts.update({k: api_name(k) for k in INPUT_FIELDS} | _OVERRIDES)
        deals["payment_terms_days"] = "Payment_Terms_Days"
        return OrgSchema("provisioned", fields, {"accounts": accounts, "deals": deals})
    if variant == "bare":
        return OrgSchema("bare", standard, {"accounts": accounts, "deals": deals})
    rng = random.Random(f"zoho-renamed:{seed}")
    for key in INPUT_FIELDS:
        fd = rng.choice(RENAMED[key])
        standard["Accounts"][fd.api_name] = fd
        accounts[key] = fd.api_name
    terms = rng.choice(RENAMED_DEAL_TERMS)
    standard["Deals"][terms.api_name] = terms
    deals["payment_terms_days"] = terms.api_name
    return OrgSchema("renamed", standard, {"accounts": accounts, "deals": deals})


_DIRTY_DATES = ("%Y-%m-%d", "%d/%m/%Y", "%Y.%m.%d", "%b %d, %Y")
_INT = re.compile(r"^-?\d+$")


def field_value(fd: FieldDef, value: Any) -> Any:
    """A canonical value as a field of this type holds it (None when the type cannot hold it).

    Text fields keep what a clerk typed; typed fields hold what their type allows, as a real org would
    have after import: "n/a" cannot sit in a number field, "03/04/2024" sits in a date field as a date.
    """
    if value is None:
        return None
    dt = fd.data_type
    if dt in ("text", "textarea"):
        text = value if isinstance(value, str) else str(value)
        return text[: fd.length] if fd.length else text
    if dt == "boolean":
        return bool(value)
    if dt in ("integer", "double", "currency", "percent"):
        if isinstance(value, str):
            if not _INT.match(value.strip()):
                return None
            value = int(value.strip())
        if dt == "integer":
            return int(round(float(value)))
        number = round(float(value), fd.decimals if fd.decimals is not None else 2)
        return int(number) if number.is_integer() else number
    if dt == "date":
        return _as_date(value)
    if dt == "picklist":
        return value if value in fd.values else None
    return value


def _as_date(value: Any) -> str | None:
    if isinstance(value, date):
        return value.isoformat()
    for fmt in _DIRTY_DATES:
        try:
            return datetime.strptime(str(value).strip(), fmt).date().isoformat()
        except ValueError:
            continue
    return None
