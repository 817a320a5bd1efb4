"""Org variants of the Salesforce sandbox: which custom fields an org starts with, and what they are called.

- ``provisioned``: every riskbridge input, output, override and task-key field, as riskbridge names them.
- ``bare``: only standard objects and fields, as a new customer's org arrives.
- ``renamed``: standard fields plus the credit, financial and history inputs under names and labels the org
  chose itself (``Credit_Limit_EUR__c`` "Credit Limit (EUR)", ``Zahlungsziel__c`` "Zahlungsziel (Tage)"), drawn
  per canonical field from `_CANDIDATES` with the seed, plus a few unrelated custom fields, as real orgs have.

Every variant holds the same companies and values for a seed; records are generated once in provisioned form
(`sf_records`) and `adapt` renders them into the variant, converting each value to the field's type.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.server import ORG_VARIANTS
from connector.sandbox.sf_describe import FieldSpec, ObjectSchema, build_schemas
from connector.sandbox.sf_records import ACCOUNT_INPUTS, DEAL_INPUTS, Record
from connector.sandbox.sf_values import to_org_value

__all__ = ["OrgLayout", "adapt", "adapt_record", "adapt_rng", "layout_for"]

_STANDARD_ACCOUNT = {"name": "Name", "owner_id": "OwnerId", "country": "BillingCountry", "industry": "Industry",
                     "currency": "CurrencyIsoCode", "annual_revenue": "AnnualRevenue"}
_STANDARD_DEAL = {"account_id": "AccountId", "name": "Name", "owner_id": "OwnerId", "amount": "Amount",
                  "stage": "StageName", "close_date": "CloseDate", "probability": "Probability",
                  "is_closed": "IsClosed", "is_won": "IsWon"}
_OVERRIDES = {"override_tier": "Risk_Override_Tier__c", "override_reason": "Risk_Override_Reason__c",
              "override_until": "Risk_Override_Until__c"}
_RATINGS = ("A", "B", "C", "D", "E")
_OPINIONS = ("unqualified", "qualified", "adverse", "disclaimer")

# (API name, label, type, extras): how orgs we have seen name each input. Types are the describe types a
# Setup user gets for Currency, Number, Date, Checkbox, Picklist and Text fields.
_Candidate = tuple[str, str, str, dict[str, Any]]
_MONEY: dict[str, Any] = {"precision": 18, "scale": 2}
_DAYS: dict[str, Any] = {"precision": 4, "scale": 0}
_COUNT: dict[str, Any] = {"precision": 3, "scale": 0}
_CANDIDATES: dict[str, tuple[_Candidate, ...]] = {
    "bureau_score": (("Bonitaetsindex__c", "Bonitätsindex", "double", {"precision": 3, "scale": 0}),
                     ("Credit_Score__c", "Credit Score", "double", {"precision": 3, "scale": 0}),
                     ("External_Credit_Score__c", "External Credit Score (0-100)", "string", {"length": 20}),
                     ("Creditsafe_Score__c", "Creditsafe Score", "double", {"precision": 3, "scale": 0})),
    "bureau_rating": (("Credit_Rating__c", "Credit Rating", "picklist", {"length": 255, "picklist": _RATINGS}),
                      ("Bureau_Grade__c", "Bureau Grade", "string", {"length": 5}),
                      ("Rating_Auskunftei__c", "Rating (Auskunftei)", "picklist",
                       {"length": 255, "picklist": _RATINGS})),
    "internal_rating": (("Internal_Risk_Class__c", "Internal Risk Class", "double", {"precision": 2, "scale": 0}),
                        ("Risikoklasse__c", "Risikoklasse (intern)", "double", {"precision": 2, "scale": 0}),
                        ("Internal_Rating_1_10__c", "Internal Rating (1-10)", "double",
                         {"precision": 2, "scale": 0})),
    "credit_limit": (("Credit_Limit_EUR__c", "Credit Limit (EUR)", "currency", _MONEY),
                     ("Kreditlimit__c", "Kreditlimit", "currency", _MONEY),
                     ("Approved_Credit_Line__c", "Approved Credit Line", "currency", _MONEY)),
    "payment_terms_days": (("Zahlungsziel__c", "Zahlungsziel (Tage)", "double", {"precision": 3, "scale": 0}),
                           ("Payment_Terms__c", "Payment Terms (days)", "picklist",
                            {"length": 255, "picklist": ("14", "30", "45", "60", "90", "120")}),
                           ("Net_Terms_Days__c", "Net Terms (Days)", "double", {"precision": 3, "scale": 0})),
    "current_assets": (("Umlaufvermoegen__c", "Umlaufvermögen", "currency", _MONEY),
                       ("Current_Assets_EUR__c", "Current Assets (EUR)", "currency", _MONEY),
                       ("Total_Current_Assets__c", "Total Current Assets", "currency", _MONEY)),
    "current_liabilities": (("Kurzfr_Verbindlichkeiten__c", "Kurzfristige Verbindlichkeiten", "currency", _MONEY),
                            ("Current_Liabilities_EUR__c", "Current Liabilities (EUR)", "currency", _MONEY),
                            ("Short_Term_Liabilities__c", "Short-term Liabilities", "currency", _MONEY)),
    "inventory": (("Vorraete__c", "Vorräte", "currency", _MONEY),
                  ("Inventory_Value__c", "Inventory Value", "currency", _MONEY),
                  ("Stock_On_Hand__c", "Stock on Hand", "currency", _MONEY)),
    "total_assets": (("Bilanzsumme__c", "Bilanzsumme", "currency", _MONEY),
                     ("Total_Assets_EUR__c", "Total Assets (EUR)", "currency", _MONEY),
                     ("Assets_Total__c", "Assets (total)", "currency", _MONEY)),
    "total_liabilities": (("Verbindlichkeiten_Gesamt__c", "Verbindlichkeiten gesamt", "currency", _MONEY),
                          ("Total_Debt__c", "Total Debt", "currency", _MONEY),
                          ("Total_Liabilities_EUR__c", "Total Liabilities (EUR)", "currency", _MONEY)),
    "net_income": (("Jahresueberschuss__c", "Jahresüberschuss", "currency", _MONEY),
                   ("Net_Profit__c", "Net Profit", "currency", _MONEY),
                   ("Net_Income_FY__c", "Net Income (last FY)", "currency", _MONEY)),
    "operating_cash_flow": (("Operativer_Cashflow__c", "Operativer Cashflow", "currency", _MONEY),
                            ("Operating_CF__c", "Operating Cash Flow", "currency", _MONEY),
                            ("Cash_From_Operations__c", "Cash from Operations", "currency", _MONEY)),
    "audit_opinion": (("Pruefungsurteil__c", "Prüfungsurteil", "picklist", {
                          "length": 255, "picklist": _OPINIONS,
                          "picklist_labels": ("Uneingeschränkt", "Eingeschränkt", "Versagt", "Nichterteilung")}),
                      ("Auditor_Opinion__c", "Auditor's Opinion", "picklist",
                       {"length": 255, "picklist": _OPINIONS}),
                      ("Audit_Result__c", "Audit Result", "string", {"length": 40})),
    "statement_date": (("Bilanzstichtag__c", "Bilanzstichtag", "date", {}),
                       ("Financials_As_Of__c", "Financials as of", "date", {}),
                       ("Last_Statement_Date__c", "Last Statement Date", "string", {"length": 30})),
    "open_receivables": (("Offene_Posten__c", "Offene Posten", "currency", _MONEY),
                         ("AR_Balance__c", "A/R Balance", "currency", _MONEY),
                         ("Outstanding_Receivables__c", "Outstanding Receivables", "currency", _MONEY)),
    "overdue_amount": (("Ueberfaelliger_Betrag__c", "Überfälliger Betrag", "currency", _MONEY),
                       ("Past_Due_Amount__c", "Past Due Amount", "currency", _MONEY),
                       ("Overdue_Balance__c", "Overdue Balance", "currency", _MONEY)),
    "max_days_past_due": (("Days_Past_Due_Max__c", "Days Past Due (max)", "double", _DAYS),
                          ("Max_Verzug_Tage__c", "Max. Verzug (Tage)", "double", _DAYS),
                          ("Oldest_Overdue_Days__c", "Oldest Overdue Invoice (days)", "double", _DAYS)),
    "avg_days_late": (("DSO_Days__c", "DSO (days)", "double", {"precision": 5, "scale": 1}),
                      ("Avg_Payment_Delay__c", "Avg. Payment Delay (days)", "double", {"precision": 5, "scale": 1}),
                      ("Zahlungsverzug_Schnitt__c", "Durchschn. Zahlungsverzug (Tage)", "double",
                       {"precision": 5, "scale": 1})),
    "disputes_12m": (("Disputes_Last_12_Months__c", "Disputes (last 12 months)", "double", _COUNT),
                     ("Rechnungsreklamationen_12M__c", "Rechnungsreklamationen (12 Monate)", "double", _COUNT),
                     ("Invoice_Disputes_12M__c", "Invoice Disputes 12M", "double", _COUNT)),
    "complaints_12m": (("Complaints_LTM__c", "Complaints (LTM)", "double", _COUNT),
                       ("Beschwerden_12M__c", "Beschwerden (12 Monate)", "double", _COUNT),
                       ("Customer_Complaints_12m__c", "Customer Complaints (12m)", "double", _COUNT)),
    "customer_since": (("Kunde_Seit__c", "Kunde seit", "date", {}),
                       ("Customer_Since_Date__c", "Customer Since", "date", {}),
                       ("First_Order_Date__c", "First Order Date", "date", {})),
    "sanctions_hit": (("Sanctions_Flag__c", "Sanctions List Hit", "boolean", {}),
                      ("Sanktionsliste_Treffer__c", "Sanktionslisten-Treffer", "boolean", {}),
                      ("AML_Alert__c", "AML / Sanctions Alert", "boolean", {})),
    "insolvency": (("Insolvent__c", "Insolvent", "boolean", {}),
                   ("Insolvenzverfahren__c", "Insolvenzverfahren", "boolean", {}),
                   ("Bankruptcy_Filed__c", "Bankruptcy Filed", "boolean", {})),
}
_DEAL_CANDIDATES: dict[str, tuple[_Candidate, ...]] = {
    "payment_terms_days": (("Zahlungsziel_Tage__c", "Zahlungsziel (Tage)", "double", {"precision": 3, "scale": 0}),
                           ("Deal_Payment_Terms__c", "Payment Terms (days)", "double", {"precision": 3, "scale": 0}),
                           ("Net_Terms__c", "Net Terms", "double", {"precision": 3, "scale": 0})),
}
# Custom fields an org has for its own reasons; they match no canonical input.
_UNRELATED: tuple[_Candidate, ...] = (
    ("Customer_Segment__c", "Customer Segment", "picklist", {"length": 255,
                                                             "picklist": ("SMB", "Mid-Market", "Enterprise")}),
    ("Revenue_Growth__c", "Revenue Growth (YoY)", "percent", {"precision": 5, "scale": 2}),
    ("Key_Account__c", "Key Account", "boolean", {}),
)


def _spec(candidate: _Candidate) -> FieldSpec:
    name, label, type_, extra = candidate
    kw: dict[str, Any] = {"length": 0, "precision": 0, "scale": 0, **extra}
    if type_ == "boolean":
        kw.update(nillable=False, defaulted=True, default=False)
    return FieldSpec(name=name, type=type_, label=label, custom=True, **kw)


@dataclass(frozen=True)
class OrgLayout:
    """One variant for one seed: the custom input fields its Account and Opportunity carry, by canonical name."""

    variant: str
    account_inputs: dict[str, FieldSpec] = field(default_factory=dict)
    deal_inputs: dict[str, FieldSpec] = field(default_factory=dict)
    unrelated: tuple[FieldSpec, ...] = ()

    def schemas(self) -> dict[str, ObjectSchema]:
        """A fresh schema set for an org of this variant."""
        if self.variant == "provisioned":
            return build_schemas()
        extra = {"Account": (*self.account_inputs.values(), *self.unrelated),
                 "Opportunity": tuple(self.deal_inputs.values())}
        return build_schemas(keep=lambda _obj, spec: not spec.custom, extra=extra)

    def field_map(self) -> dict[str, dict[str, str]]:
        """Canonical input name -> API name, per object, as the org holds them (``/__sandbox/org``)."""
        if self.variant == "provisioned":
            return {"accounts": {**_STANDARD_ACCOUNT, **ACCOUNT_INPUTS, **_OVERRIDES},
                    "deals": {**_STANDARD_DEAL, **DEAL_INPUTS}}
        return {"accounts": {**_STANDARD_ACCOUNT, **{k: s.name for k, s in self.account_inputs.items()}},
                "deals": {**_STANDARD_DEAL, **{k: s.name for k, s in self.deal_inputs.items()}}}


def layout_for(variant: str, seed: int) -> OrgLayout:
    """The layout of `variant` for `seed`; raises ValueError for an unknown variant."""
    if variant not in ORG_VARIANTS:
        raise ValueError(f"unknown org variant {variant!r}; choose one of {', '.join(ORG_VARIANTS)}")
    if variant != "renamed":
        return OrgLayout(variant)
    rng = random.Random(seed * 613 + 29)  # its own generator: the data of a seed never depends on the names
    accounts = {key: _spec(rng.choice(_CANDIDATES[key])) for key in ACCOUNT_INPUTS}
    deals = {key: _spec(rng.choice(_DEAL_CANDIDATES[key])) for key in DEAL_INPUTS}
    return OrgLayout(variant, accounts, deals, tuple(_spec(c) for c in _UNRELATED))


def adapt(rows: dict[str, list[Record]], layout: OrgLayout, schemas: dict[str, ObjectSchema],
          seed: int) -> dict[str, list[Record]]:
    """Render provisioned records into `layout`'s org: renamed inputs converted, absent fields dropped."""
    if layout.variant == "provisioned":
        return rows
    rng = adapt_rng(seed)
    return {obj: [adapt_record(obj, rec, layout, schemas, rng) for rec in records] for obj, records in rows.items()}


def adapt_rng(seed: int) -> random.Random:
    """The stream `adapt_record` draws from: one draw set per Account, in id order."""
    return random.Random(seed * 7 + 101)


def adapt_record(obj: str, rec: Record, layout: OrgLayout, schemas: dict[str, ObjectSchema],
                 rng: random.Random) -> Record:
    """One provisioned record rendered into `layout`'s org (itself for a provisioned org)."""
    if layout.variant == "provisioned":
        return rec
    fields = schemas[obj].fields if obj in schemas else {}
    new = {k: v for k, v in rec.items() if k in fields}
    renamed = {"Account": (layout.account_inputs, ACCOUNT_INPUTS),
               "Opportunity": (layout.deal_inputs, DEAL_INPUTS)}.get(obj)
    if renamed is not None:
        specs, provisioned = renamed
        new.update({spec.name: to_org_value(spec, rec.get(provisioned[key])) for key, spec in specs.items()})
    if obj == "Account":
        new.update(_unrelated_values(rng, layout.unrelated))
    return new


def _unrelated_values(rng: random.Random, specs: tuple[FieldSpec, ...]) -> Record:
    values: Record = {}
    for spec in specs:
        if spec.type == "boolean":
            values[spec.name] = rng.random() < 0.1
        elif spec.type == "percent":
            values[spec.name] = round(rng.gauss(4.0, 9.0), 2) if rng.random() < 0.7 else None
        elif spec.picklist:
            values[spec.name] = rng.choice((*spec.picklist, None))
    return values
