"""What orgs call riskbridge's canonical inputs: English, German and Chinese names and labels.

Phrases are matched against a field's API name and label after `normalise` (lower case, umlauts folded,
camelCase and underscores split, the ``__c`` suffix dropped); Chinese phrases match as substrings.
The first phrase of each list is the canonical wording. Add an org's own words here, never in code.
"""

from __future__ import annotations

__all__ = ["SYNONYMS"]

SYNONYMS: dict[str, tuple[str, ...]] = {
    # identity and standard fields
    "name": ("account name", "name", "company name", "firmenname", "kundenname", "客户名称", "公司名称"),
    "owner_id": ("owner", "owner id", "account owner", "besitzer", "inhaber", "负责人", "所有者"),
    "country": ("billing country", "country", "land", "rechnungsland", "国家", "国别"),
    "industry": ("industry", "branche", "sector", "行业"),
    "currency": ("currency iso code", "currency", "waehrung", "币种", "货币"),
    "annual_revenue": ("annual revenue", "revenue", "umsatz", "jahresumsatz", "turnover", "年收入", "营业收入"),
    # credit standing
    "bureau_score": ("bureau score", "credit score", "bonitaetsindex", "bonitaetsscore", "bonitaet score",
                     "schufa score", "creditreform index", "crefo index", "risk score external", "dnb score",
                     "征信评分", "信用评分", "信用分", "征信分"),
    "bureau_rating": ("bureau rating", "auskunftei rating", "rating auskunftei", "bureau grade", "credit grade", "credit rating", "external rating", "agency rating", "bonitaetsklasse",
                      "ratingklasse", "bonitaetsnote", "信用等级", "征信等级", "外部评级", "评级"),
    "internal_rating": ("internal rating", "internal risk class", "risk class", "internes rating",
                        "interne bonitaet", "risikoklasse", "内部评级", "内部信用等级", "内部等级"),
    "credit_limit": ("credit limit", "kreditlimit", "kreditrahmen", "credit line", "limit", "信用额度", "授信额度",
                     "信用限额"),
    "payment_terms_days": ("payment terms days", "net terms days", "net terms", "payment terms", "terms days", "zahlungsziel",
                           "zahlungsbedingungen", "net days", "zahlungsfrist", "账期", "付款期限", "付款条件", "账期天数", "付款天数", "付款期"),
    # financial health
    "current_assets": ("current assets", "umlaufvermoegen", "流动资产"),
    "current_liabilities": ("current liabilities", "current liab", "short term liabilities", "kurzfr verbindlichkeiten", "kurzfristige verbindlichkeiten", "流动负债"),
    "inventory": ("inventory", "inventories", "stock", "vorraete", "lagerbestand", "存货", "库存"),
    "total_assets": ("total assets", "bilanzsumme", "gesamtvermoegen", "assets total", "资产总额", "总资产"),
    "total_liabilities": ("total liabilities", "total debt", "debt total", "gesamtverbindlichkeiten", "verbindlichkeiten gesamt",
                          "fremdkapital", "liabilities total", "liabilities", "verbindlichkeiten", "负债总额", "总负债"),
    "net_income": ("net income", "net profit", "net earnings", "earnings after tax", "jahresergebnis", "jahresueberschuss", "gewinn", "reingewinn", "净利润", "净收入"),
    "operating_cash_flow": ("operating cash flow", "cash from operations", "operating cf", "cfo", "cash flow", "operativer cashflow", "cashflow", "ocf",
                            "经营现金流", "经营活动现金流"),
    "audit_opinion": ("audit opinion", "audit result", "auditors opinion", "auditor opinion", "pruefungsurteil", "bestaetigungsvermerk", "testat",
                      "审计意见"),
    "statement_date": ("statement date", "financials as of", "financial statements as of", "fiscal year end", "financial statement date", "balance sheet date", "bilanzstichtag",
                       "abschlussdatum", "jahresabschluss datum", "报表日期", "财报日期", "报告日期"),
    # transaction history
    "open_receivables": ("open receivables", "ar balance", "a r balance", "outstanding receivables", "receivables", "accounts receivable", "offene posten", "forderungen",
                         "offene forderungen", "应收账款", "未收款"),
    "overdue_amount": ("overdue amount", "overdue balance", "past due balance", "amount overdue", "past due amount", "ueberfaelliger betrag",
                       "ueberfaellige forderungen", "overdue", "逾期金额", "逾期款"),
    "max_days_past_due": ("max days past due", "oldest overdue days", "oldest overdue invoice days", "days past due", "days past due max", "dpd", "max dpd",
                          "overdue days", "tage ueberfaellig", "verzugstage", "max verzug", "逾期天数", "最长逾期",
                          "最大逾期天数"),
    "avg_days_late": ("avg days late", "avg payment delay", "payment delay", "average payment delay", "average days late", "dso", "dso days", "days sales outstanding",
                      "average delay", "zahlungsverzug", "durchschnittlicher zahlungsverzug", "avg delay",
                      "平均逾期天数", "平均延迟", "平均拖欠天数"),
    "disputes_12m": ("disputes 12m", "rechnungsreklamationen", "disputes", "invoice disputes", "streitfaelle", "rechnungsreklamation",
                     "争议", "纠纷", "争议次数"),
    "complaints_12m": ("complaints 12m", "complaints", "beschwerden", "reklamationen", "reklamation", "投诉", "投诉次数"),
    "customer_since": ("customer since", "client since", "kunde seit", "first order", "erstauftrag",
                       "客户起始日期", "合作开始", "首次合作"),
    "sanctions_hit": ("sanctions hit", "sanctions list hit", "sanctions flag", "aml alert", "aml sanctions alert", "sanctions", "aml hit", "sanktionen", "sanktionstreffer", "sanktionsliste",
                      "制裁命中", "制裁"),
    "insolvency": ("insolvency", "bankruptcy", "insolvent", "insolvenz", "insolvenzverfahren", "破产", "资不抵债"),
    # deals
    "account_id": ("account id", "account", "account name", "客户"),
    "amount": ("amount", "betrag", "volume", "金额"),
    "stage": ("stage", "stage name", "phase", "阶段"),
    "close_date": ("close date", "closing date", "abschlussdatum", "结束日期", "成交日期"),
    "probability": ("probability", "wahrscheinlichkeit", "可能性", "概率"),
    "is_closed": ("is closed", "closed", "geschlossen", "已关闭"),
    "is_won": ("is won", "won", "gewonnen", "赢单"),
}
