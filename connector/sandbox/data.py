"""Realistic, deterministic B2B customer data for the sandbox CRMs.

Each firm has a latent *health*; every signal (bureau score, ratios, receivables, disputes) is drawn
around it, so a firm in distress shows it across several fields, as in a real ledger. Values are
canonical (DESIGN.md §4 names); each sandbox CRM renders them into its own field API names, and a few
are left dirty on purpose, as real orgs are: text in a number-like text field, odd date formats,
unicode names, very long strings and empty fields.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connector.countries import COUNTRIES, Country

__all__ = ["INDUSTRIES", "STAGES", "Dataset", "Generator", "User", "firmographics", "generate", "touch_account"]

# Salesforce's standard Industry picklist values; Zoho's default list is the same family.
INDUSTRIES: tuple[tuple[str, float], ...] = (
    # (industry, effect on health: negative means a riskier sector)
    ("Technology", 0.2), ("Manufacturing", 0.0), ("Retail", -0.4), ("Construction", -0.5),
    ("Healthcare", 0.3), ("Finance", 0.1), ("Energy", -0.1), ("Transportation", -0.3),
    ("Food & Beverage", -0.1), ("Chemicals", 0.0), ("Electronics", 0.1), ("Consulting", 0.1),
    ("Hospitality", -0.6), ("Telecommunications", 0.2), ("Agriculture", -0.2), ("Machinery", 0.0),
    ("Apparel", -0.3), ("Shipping", -0.3), ("Media", -0.2), ("Utilities", 0.4), ("Biotechnology", -0.1),
    ("Education", 0.3), ("Insurance", 0.2), ("Engineering", 0.1),
)
_COUNTRY_EFFECT = {
    "US": 0.2, "DE": 0.3, "GB": 0.1, "FR": 0.1, "NL": 0.3, "CH": 0.4, "SE": 0.3, "JP": 0.3, "CN": 0.0,
    "IN": -0.2, "BR": -0.4, "MX": -0.3, "TR": -0.6, "AR": -0.8, "NG": -0.7, "RU": -0.9, "VE": -1.2,
    "IR": -1.2, "EG": -0.6, "ZA": -0.4, "UA": -0.7, "PK": -0.7, "VN": -0.2, "ID": -0.2,
}
_MAIN_MARKETS = ("US", "DE", "GB", "FR", "CN", "JP", "NL", "IN", "BR", "CA", "AU", "ES", "IT", "SG", "MX")

# (stage, probability, is_closed, is_won): Salesforce's default opportunity stages.
STAGES: tuple[tuple[str, int, bool, bool], ...] = (
    ("Prospecting", 10, False, False), ("Qualification", 10, False, False),
    ("Needs Analysis", 20, False, False), ("Value Proposition", 50, False, False),
    ("Id. Decision Makers", 60, False, False), ("Perception Analysis", 70, False, False),
    ("Proposal/Price Quote", 75, False, False), ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True), ("Closed Lost", 0, True, False),
)

_FIRST = ("Patricia", "James", "Mei", "Lukas", "Amara", "Carlos", "Yuki", "Priya", "Olivia", "Chen", "Sofia",
          "Ahmed", "Hannah", "Mateo", "Ingrid", "Kwame")
_LAST = ("Boyle", "Schmidt", "Wang", "Okafor", "García", "Tanaka", "Sharma", "Nguyen", "Müller", "Rossi",
         "Johansson", "Haddad", "Kowalski", "Silva", "Dubois", "Li")
_STEMS = ("Acme", "Zylker", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
          "Vandelay", "Soylent", "Hooli", "Pied Piper", "Aperture", "Oscorp", "Wonka", "Gringotts", "Nakatomi",
          "Blue Sun", "Dunder", "Sterling", "Prestige", "Monarch", "Atlas", "Orion", "Helix", "Vertex", "Summit",
          "Harbor", "Falcon", "Granite", "Cedar", "Meridian", "Keystone", "Pinnacle", "Redwood", "Silverline")
_SUFFIX = {"US": ("Inc.", "LLC", "Corp."), "GB": ("Ltd", "PLC"), "DE": ("GmbH", "AG", "KG"),
           "FR": ("SA", "SARL"), "NL": ("B.V.", "N.V."), "CN": ("Co., Ltd.",), "JP": ("K.K.", "Co., Ltd."),
           "IN": ("Pvt. Ltd.",), "BR": ("Ltda.", "S.A."), "ES": ("S.L.", "S.A."), "IT": ("S.p.A.", "S.r.l.")}
_UNICODE_NAMES = ("Müller Maschinenbau GmbH", "Société Générale d'Équipement SA", "北京华信科技有限公司",
                  "株式会社サクラ精機", "Ürün Gıda Sanayi A.Ş.", "Łódź Logistyka Sp. z o.o.", "Ñandú Agro S.A.",
                  "上海东方物流有限公司", "Ålesund Fisk AS", "Škoda Součástky s.r.o.", "深圳市鹏程电子有限公司",
                  "Crème Brûlée Pâtisserie SARL")
_PRODUCTS = ("Platform licence", "Spare parts", "Annual maintenance", "Raw materials", "Logistics contract",
             "Consulting block", "Equipment lease", "Components", "Subscription renewal", "Pilot project")
_BAD_SCORES = ("n/a", "pending", "see report", "—", "N.A.", "TBD")
_RATINGS = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class User:
    index: int
    first_name: str
    last_name: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def email(self) -> str:
        ascii_last = self.last_name.encode("ascii", "ignore").decode() or "user"
        return f"{self.first_name.lower()}.{ascii_last.lower()}@example.com"


@dataclass
class Dataset:
    """Canonical records. Accounts and deals carry `owner_index`, `created_at` and `modified_at`."""

    users: list[User]
    accounts: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)


def _clip(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def _dirty_date(rng: random.Random, d: date) -> str:
    """Most dates are ISO; some come as people type them in spreadsheets."""
    roll = rng.random()
    if roll < 0.90:
        return d.isoformat()
    if roll < 0.94:
        return d.strftime("%d/%m/%Y")
    if roll < 0.97:
        return d.strftime("%Y.%m.%d")
    return d.strftime("%b %d, %Y")


def _name(rng: random.Random, country: Country, i: int) -> str:
    roll = rng.random()
    if roll < 0.04:
        return _UNICODE_NAMES[i % len(_UNICODE_NAMES)] + ("" if i < len(_UNICODE_NAMES) else f" {i}")
    stem = rng.choice(_STEMS)
    second = rng.choice(("Industries", "Systems", "Trading", "Holdings", "Logistics", "Foods", "Materials",
                         "Solutions", "Components", "Partners", "Works", "Labs"))
    name = f"{stem} {second} {rng.choice(_SUFFIX.get(country.code, ('Ltd',)))}"
    if roll > 0.995:  # imported from an ERP that keeps the legal name and the whole address in one field
        name = (name + " — formerly " + rng.choice(_STEMS) + " " + second + " " * 3 + "(division of "
                + rng.choice(_STEMS) + " Group, registered office and billing address on file) ") * 2
        name = name[:255]
    return f"{name} #{i}" if rng.random() < 0.3 else name


class Generator:
    """The one random stream `generate` draws from, one record at a time.

    For callers that cannot hold a whole dataset (a sandbox of a million accounts): draw every account
    in index order, then every account's deals in the same order, and the values are `generate`'s.
    `rng` can be saved (`getstate`) and restored to draw a stretch of records again.
    """

    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.users = [User(i, _FIRST[(i * 7 + seed) % len(_FIRST)], _LAST[(i * 5 + seed) % len(_LAST)])
                      for i in range(8)]
        self.by_code = {c.code: c for c in COUNTRIES}
        self.now = datetime.combine(today, time(0, 0), tzinfo=UTC)

    def account(self, i: int) -> dict[str, Any]:
        return _account(self.rng, i, self.by_code, self.now, len(self.users))

    def deal(self, acc: dict[str, Any], j: int) -> dict[str, Any]:
        return _deal(self.rng, acc, j, self.now)


def generate(seed: int, accounts: int, deals_per_account: int, today: date) -> Dataset:
    """Generate `accounts` firms with `deals_per_account` deals each; same seed and day, same data."""
    gen = Generator(seed, today)
    data = Dataset(users=gen.users)
    for i in range(accounts):
        data.accounts.append(gen.account(i))
    for acc in data.accounts:
        for j in range(deals_per_account):
            data.deals.append(gen.deal(acc, j))
    return data


def _account(rng: random.Random, i: int, by_code: dict[str, Country], now: datetime, n_users: int) -> dict[str, Any]:
    code = rng.choice(_MAIN_MARKETS) if rng.random() < 0.75 else rng.choice(COUNTRIES).code
    country = by_code[code]
    industry, sector = rng.choice(INDUSTRIES)
    health = rng.gauss(0.0, 1.0) + sector + _COUNTRY_EFFECT.get(code, 0.0) * 0.5
    revenue = round(math.exp(rng.gauss(16.0, 1.4)), -3)  # median ~9M
    created = now - timedelta(days=rng.randint(30, 365 * 12))
    modified = created + (now - created) * rng.uniform(0.3, 0.999)
    modified = min(modified, now - timedelta(minutes=5))

    rec: dict[str, Any] = {
        "index": i, "name": _name(rng, country, i), "owner_index": rng.randrange(n_users), "country": code,
        "country_text": rng.choice((country.name, country.name, country.name, code, country.name.upper(),
                                    *(country.aliases[:1] or (country.name,)))),
        "industry": industry if rng.random() > 0.03 else None, "currency": country.currency,
        "annual_revenue": revenue, "created_at": created, "modified_at": modified,
        "customer_since": (created - timedelta(days=rng.randint(0, 365 * 8))).date().isoformat(),
    }

    # Credit standing: most firms have a bureau score; some only a letter grade; a few nothing.
    bureau = _clip(62 + 14 * health + rng.gauss(0, 6), 1, 100)
    roll = rng.random()
    if roll < 0.60:
        rec["bureau_score"] = str(round(bureau)) if rng.random() > 0.02 else rng.choice(_BAD_SCORES)
    elif roll < 0.88:
        rec["bureau_rating"] = _RATINGS[min(4, max(0, int((100 - bureau) / 18)))]
    rec["internal_rating"] = int(_clip(round(3.8 - 1.8 * health + rng.gauss(0, 0.8)), 1, 10)) \
        if rng.random() > 0.08 else None

    # Financial statements: larger firms share them more often.
    if rng.random() < 0.85:
        total_assets = revenue * rng.uniform(0.5, 1.6)
        debt_ratio = _clip(0.55 - 0.18 * health + rng.gauss(0, 0.08), 0.05, 1.6)
        current_assets = total_assets * rng.uniform(0.3, 0.6)
        current_ratio = _clip(math.exp(0.35 + 0.35 * health + rng.gauss(0, 0.15)), 0.2, 6.0)
        margin = _clip(0.04 + 0.05 * health + rng.gauss(0, 0.02), -0.5, 0.4)
        rec.update({
            "total_assets": round(total_assets, -2), "total_liabilities": round(total_assets * debt_ratio, -2),
            "current_assets": round(current_assets, -2), "current_liabilities": round(current_assets / current_ratio, -2),
            "inventory": round(current_assets * rng.uniform(0.1, 0.5), -2), "net_income": round(revenue * margin, -2),
            "operating_cash_flow": round(revenue * (margin + rng.gauss(0.02, 0.03)), -2),
            "audit_opinion": ("unqualified" if health > -1.2 or rng.random() < 0.5
                              else rng.choice(("qualified", "qualified", "adverse", "disclaimer"))),
            "statement_date": _dirty_date(rng, (now - timedelta(days=rng.randint(30, 560 if health > -1 else 900))).date()),
        })
        if rng.random() < 0.05:
            rec["audit_opinion"] = None

    # Receivables and payment behaviour.
    limit = round(revenue * rng.uniform(0.02, 0.08), -3)
    open_ar = round(limit * _clip(rng.uniform(0.05, 0.55) - 0.15 * health, 0.0, 1.6), -2)
    late_share = _clip(1 / (1 + math.exp(1.6 * health + 1.8)) + rng.gauss(0, 0.03), 0.0, 1.0)
    max_dpd = 0 if late_share < 0.02 else int(_clip(rng.expovariate(1 / (15 + 90 * late_share)), 1, 400))
    rec.update({
        "credit_limit": limit, "payment_terms_days": rng.choice((30, 30, 30, 45, 45, 60)),
        "open_receivables": open_ar, "overdue_amount": round(open_ar * late_share, -2),
        "max_days_past_due": max_dpd, "avg_days_late": round(max_dpd * rng.uniform(0.1, 0.5), 1),
        "disputes_12m": _poisson(rng, math.exp(-0.4 - 0.9 * health)),
        "complaints_12m": _poisson(rng, math.exp(0.0 - 0.7 * health)),
        "sanctions_hit": rng.random() < 0.003, "insolvency": health < -1.5 and rng.random() < 0.08,
    })
    if rng.random() < 0.06:  # receivables never synced from the ERP for this one
        for key in ("open_receivables", "overdue_amount", "max_days_past_due", "avg_days_late"):
            rec[key] = None
    return rec


def _deal(rng: random.Random, acc: dict[str, Any], j: int, now: datetime) -> dict[str, Any]:
    stage, probability, closed, won = rng.choice(STAGES)
    close = now.date() + timedelta(days=rng.randint(-200, -1) if closed else rng.randint(5, 240))
    created = max(acc["created_at"], now - timedelta(days=rng.randint(10, 400)))
    modified = min(created + (now - created) * rng.uniform(0.2, 0.999), now - timedelta(minutes=5))
    amount = round(acc["annual_revenue"] * rng.uniform(0.001, 0.012), -2)
    return {
        "account_index": acc["index"], "name": f"{acc['name'][:60]} — {rng.choice(_PRODUCTS)} {j + 1}",
        "owner_index": acc["owner_index"] if rng.random() < 0.8 else (acc["owner_index"] + 1) % 8,
        "amount": amount if rng.random() > 0.03 else None, "stage": stage, "close_date": close.isoformat(),
        "probability": probability,
        "payment_terms_days": acc["payment_terms_days"] if rng.random() < 0.9 else rng.choice((60, 90, 120)),
        "is_closed": closed, "is_won": won, "created_at": created, "modified_at": modified,
    }


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method; lam stays small here.
    limit, k, p = math.exp(-min(lam, 30.0)), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def touch_account(rng: random.Random, rec: dict[str, Any]) -> str:
    """Edit one canonical account the way a credit clerk would; returns the field changed."""
    if rec.get("max_days_past_due") is not None and rng.random() < 0.6:
        rec["max_days_past_due"] = int(rec["max_days_past_due"]) + rng.randint(15, 60)
        rec["overdue_amount"] = round((rec.get("overdue_amount") or 0) + (rec.get("credit_limit") or 1000) * 0.2, -2)
        return "max_days_past_due"
    rec["disputes_12m"] = int(rec.get("disputes_12m") or 0) + 1
    return "disputes_12m"


def firmographics(seed: int, account: dict[str, Any]) -> dict[str, Any]:
    """Head count, sales rating and relationship type of one generated account.

    Drawn from a generator of its own per account, so adding these left every other value of a seed as it was.
    """
    rng = random.Random(seed * 1_000_003 + account["index"] * 7919 + 3)
    revenue = float(account.get("annual_revenue") or 1_000_000.0)
    employees = max(1, round(revenue / rng.uniform(120_000, 420_000)))
    rating = rng.choices(("Hot", "Warm", "Cold", None), (2, 5, 3, 2))[0]
    kind = rng.choices(("Customer - Direct", "Customer - Channel", "Prospect", "Other"), (12, 4, 2, 1))[0]
    return {"employees": employees if rng.random() > 0.05 else None, "rating": rating, "type": kind}
