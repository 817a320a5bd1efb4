"""Renders the canonical generated data (`data.generate`) as a Chinese Fxiaoke tenant.

The companies, their health and every credit value come from the shared generator, so a seed gives
the same firms in every CRM; this module gives them what a Chinese tenant holds: 公司 names built
from a city, a trade name and the industry, province and city, 行业 options (制造业, 批发零售, 建筑业 …),
CNY amounts as strings, a valid 18-character 统一社会信用代码 (GB 32100-2015 check character), employees
with Chinese names, 商机2.0 (NewOpportunityObj, or the legacy OpportunityObj) deals, and owners' own 销售记录 (ActiveRecordObj)
follow-ups. A provisioned tenant also carries a few overrides and users' own watchlist options.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connector.sandbox.data import INDUSTRIES, generate, touch_account
from connector.sandbox.fxiaoke_fields import date_ms
from connector.sandbox.fxiaoke_org import TIERS, field_value
from connector.sandbox.fxiaoke_store import Employee, FxiaokeStore

__all__ = ["CITIES", "credit_code", "populate", "user_edit"]

# (province, city, administrative division code of the city)
CITIES: tuple[tuple[str, str, str], ...] = (
    ("广东省", "深圳市", "440300"), ("广东省", "广州市", "440100"), ("广东省", "东莞市", "441900"),
    ("广东省", "佛山市", "440600"), ("上海市", "上海市", "310100"), ("北京市", "北京市", "110100"),
    ("浙江省", "杭州市", "330100"), ("浙江省", "宁波市", "330200"), ("浙江省", "温州市", "330300"),
    ("江苏省", "苏州市", "320500"), ("江苏省", "南京市", "320100"), ("江苏省", "无锡市", "320200"),
    ("山东省", "青岛市", "370200"), ("山东省", "济南市", "370100"), ("四川省", "成都市", "510100"),
    ("湖北省", "武汉市", "420100"), ("天津市", "天津市", "120100"), ("重庆市", "重庆市", "500100"),
    ("福建省", "厦门市", "350200"), ("福建省", "福州市", "350100"), ("河南省", "郑州市", "410100"),
    ("湖南省", "长沙市", "430100"), ("安徽省", "合肥市", "340100"), ("陕西省", "西安市", "610100"),
    ("辽宁省", "沈阳市", "210100"), ("辽宁省", "大连市", "210200"), ("河北省", "石家庄市", "130100"),
    ("云南省", "昆明市", "530100"), ("广西壮族自治区", "南宁市", "450100"), ("江西省", "南昌市", "360100"),
)
_DISTRICTS = ("高新区", "经济技术开发区", "工业园区", "城东区", "城西区", "新城区")
_ROADS = ("人民路", "建设路", "解放路", "中山路", "科技路", "工业大道", "长江路", "和平路")
_TRADE_NAMES = ("华信", "恒达", "鼎盛", "宏远", "金桥", "瑞丰", "东方", "中科", "天成", "海纳", "永泰", "博远", "新锐",
                "润通", "德昌", "汇丰", "鑫源", "卓越", "光明", "远航", "正泰", "万通", "嘉禾", "中联", "聚力", "华美",
                "长城", "申达", "飞扬", "百川", "启明", "星河", "同创", "安信", "富源", "明德", "国泰", "凯旋", "智达")
_INDUSTRY_CN = dict(zip((name for name, _ in INDUSTRIES), (
    ("4", "信息技术"), ("1", "精密制造"), ("2", "商贸"), ("3", "建设工程"), ("24", "医疗器械"), ("5", "投资"),
    ("6", "能源"), ("7", "运输"), ("8", "食品"), ("9", "化工"), ("10", "电子"), ("11", "企业管理咨询"),
    ("12", "酒店管理"), ("13", "通信技术"), ("14", "农业发展"), ("15", "机械设备"), ("16", "服饰"), ("17", "物流"),
    ("18", "文化传媒"), ("19", "水务"), ("20", "生物医药"), ("21", "教育科技"), ("22", "保险代理"), ("23", "工程技术"),
), strict=True))
_SUFFIXES = ("有限公司", "有限公司", "有限公司", "股份有限公司", "集团有限公司", "有限责任公司")
_FOREIGN = {"US": "美国", "DE": "德国", "GB": "英国", "FR": "法国", "JP": "日本", "NL": "荷兰", "IN": "印度", "BR": "巴西",
            "CA": "加拿大", "AU": "澳大利亚", "ES": "西班牙", "IT": "意大利", "SG": "新加坡", "MX": "墨西哥"}
_EMPLOYEES = (("1000", "系统管理员", "信息部"), ("1001", "张伟", "华南销售部"), ("1002", "王芳", "华东销售部"),
              ("1003", "李娜", "华北销售部"), ("1004", "刘洋", "华南销售部"), ("1005", "陈静", "西南销售部"),
              ("1006", "杨磊", "华东销售部"), ("1007", "赵敏", "大客户部"), ("1008", "黄强", "华中销售部"))
_PRODUCTS = ("年度维保合同", "设备采购", "原材料供应", "物流服务合同", "咨询项目", "设备租赁", "零部件框架协议",
             "软件订阅续约", "试点项目", "备品备件")
_STAGE = {"Prospecting": "1", "Qualification": "1", "Needs Analysis": "2", "Value Proposition": "2",
          "Id. Decision Makers": "3", "Perception Analysis": "3", "Proposal/Price Quote": "3",
          "Negotiation/Review": "4", "Closed Won": "5", "Closed Lost": "6"}
_LEGACY_STAGES = ("验证客户", "需求确定", "方案/报价", "谈判审核", "赢单", "输单")
_FOLLOW_UPS = ("电话沟通季度采购计划，客户反馈预算已批", "上门拜访财务总监，核对应收账款", "催收逾期发票，客户承诺月底付款",
               "发送最新报价单", "续约洽谈，客户要求延长账期", "参观工厂，了解产能情况")
_OVERRIDE_REASONS = ("母公司提供担保", "已与客户财务总监签订还款计划", "已收到抵押物，经信用委员会审批", "长期合作客户，无坏账记录",
                     "存在法律纠纷，暂停新订单")
_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code(rng: random.Random, division: str) -> str:
    """A well-formed 统一社会信用代码: 91 (enterprise), division, organisation code, GB 32100 check."""
    org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(_CODE_CHARS.index(c) * w for c, w in zip(org, weights, strict=True))
    check = 11 - total % 11
    org += "X" if check == 10 else ("0" if check == 11 else str(check))
    body = "91" + division + org
    total = sum(_CODE_CHARS.index(c) * w for c, w in zip(body, _CODE_WEIGHTS, strict=True))
    return body + _CODE_CHARS[(31 - total % 31) % 31]


def _employees(seed: int) -> list[Employee]:
    rng = random.Random(f"fxiaoke-employees-{seed}")
    return [Employee(emp, name, f"FSUID_{rng.getrandbits(96):024X}", f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                     dept) for emp, name, dept in _EMPLOYEES]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def populate(store: FxiaokeStore, *, seed: int, accounts: int, deals_per_account: int, today: date) -> None:
    """Fill an empty store with the tenant's generated data, under the fields of its schema."""
    data = generate(seed, accounts, deals_per_account, today)
    schema = store.schema
    store.employees = _employees(seed)
    reps = store.employees[1:]
    layout, where = schema.fields["AccountObj"], schema.canonical["accounts"]
    account_ids: dict[int, str] = {}
    for acc in sorted(data.accounts, key=lambda a: (a["created_at"], a["index"])):
        rng = random.Random(f"fxiaoke-firm:{seed}:{acc['index']}")
        province, city, division = rng.choice(CITIES)
        value, word = _INDUSTRY_CN[acc["industry"]] if acc["industry"] else ("", rng.choice(("贸易", "实业", "科技")))
        domestic = acc["country"] == "CN" or rng.random() < 0.85
        place = city.removesuffix("市") if domestic else _FOREIGN.get(acc["country"], "")
        name = f"{place}{rng.choice(_TRADE_NAMES)}{word}{rng.choice(_SUFFIXES) if domestic else '公司'}"
        owner = reps[acc["owner_index"] % len(reps)]
        rec: dict[str, Any] = {
            "name": name if acc["index"] < 40 or rng.random() > 0.02 else f"{name}（{rng.choice(_DISTRICTS)}分公司）",
            "account_no": f"KH{20000 + acc['index']:06d}", "owner": [owner.id],
            "country": "中国" if domestic else _FOREIGN.get(acc["country"], acc["country_text"]),
            "mc_currency": "CNY", "annual_revenue": field_value(layout["annual_revenue"], acc["annual_revenue"]),
            "registered_capital": field_value(layout["registered_capital"], round(acc["annual_revenue"] * 0.1, -4)),
            "account_level": rng.choice(("1", "2", "2", "3")), "deal_status": rng.choice(("1", "2", "2", "3")),
            "tel": f"0{rng.randint(10, 999)}-{rng.randint(2000000, 89999999)}",
            "url": f"http://www.{rng.choice('abcdefghjkmnpqrstwxyz')}{acc['index']}.com.cn",
        }
        if value:
            rec["industry"] = value
        if domestic:  # a foreign firm has no 统一社会信用代码
            rec["uniform_social_credit_code"] = credit_code(rng, division)
            district = rng.choice(_DISTRICTS)
            rec.update({"province": province, "city": city, "district": district,
                        "address": f"{province}{city}{district}{rng.choice(_ROADS)}{rng.randint(1, 999)}号"})
        for key, api in where.items():
            fd = layout.get(api)
            if fd is not None and fd.custom and acc.get(key) is not None:
                shown = field_value(fd, acc[key])
                if shown is not None:
                    rec[api] = shown
        created, modified = _ms(acc["created_at"]) + rng.randrange(25_200_000, 64_800_000), _ms(acc["modified_at"])
        stored = store.insert("AccountObj", {**rec, "create_time": min(created, modified)}, owner.id,
                              at_ms=modified)
        stored["created_by"] = stored["last_modified_by"] = [owner.id]
        stored["version"] = 1 + rng.randrange(12)
        account_ids[acc["index"]] = stored["_id"]
    _deals(store, data.deals, account_ids, reps)
    _extras(store, seed, today)


def _deals(store: FxiaokeStore, deals: list[dict[str, Any]], account_ids: dict[int, str],
           reps: list[Employee]) -> None:
    obj = store.schema.deal_object
    layout, where = store.schema.fields[obj], store.schema.canonical["deals"]
    terms = where.get("payment_terms_days")
    for deal in sorted(deals, key=lambda d: (d["created_at"], d["account_index"], d["name"])):
        parent = store.records["AccountObj"][account_ids[deal["account_index"]]]
        rng = random.Random(f"fxiaoke-deal:{parent['_id']}:{deal['name']}")
        owner = reps[deal["owner_index"] % len(reps)]
        stage = _STAGE[deal["stage"]]
        status = "2" if deal["is_won"] else ("3" if deal["is_closed"] else "1")
        rec: dict[str, Any] = {"name": f"{parent['name'][:30]}-{rng.choice(_PRODUCTS)}", "account_id": parent["_id"],
                               "owner": [owner.id], where["probability"]: field_value(layout["probability"],
                                                                                    deal["probability"]),
                               where["close_date"]: date_ms(date.fromisoformat(deal["close_date"]))}
        if obj == "NewOpportunityObj":
            rec.update({"sales_stage": stage, "sales_status": status})
        else:  # the legacy object keeps its stage as text and its state in biz_status
            rec.update({"oppo_stage_id": _LEGACY_STAGES[int(stage) - 1], "biz_status": status})
        if deal["amount"] is not None:
            rec[where["amount"]] = field_value(layout[where["amount"]], deal["amount"])
        if terms is not None:
            rec[terms] = field_value(layout[terms], deal["payment_terms_days"])
        modified = _ms(deal["modified_at"])
        stored = store.insert(obj, {**rec, "create_time": min(_ms(deal["created_at"]), modified)},
                              owner.id, at_ms=modified)
        stored["version"] = 1 + rng.randrange(6)


def _extras(store: FxiaokeStore, seed: int, today: date) -> None:
    """Owners' follow-ups, overrides and users' own watchlist options, from a random stream of their own."""
    rng = random.Random(seed * 7919 + 29)
    layout = store.schema.fields["AccountObj"]
    day0 = datetime.combine(today, time(0), UTC)
    for rid in store.sorted_ids("AccountObj"):
        acc = store.records["AccountObj"][rid]
        roll = rng.random()
        if roll < 0.01 and "risk_override_tier__c" in layout:
            expired = rng.random() < 0.5
            until = today + timedelta(days=-rng.randint(1, 120) if expired else rng.randint(10, 180))
            acc.update({"risk_override_tier__c": rng.choice(TIERS)[0], "risk_override_until__c": date_ms(until),
                        "risk_override_reason__c": rng.choice(_OVERRIDE_REASONS)})
        if rng.random() < 0.05 and "risk_watchlist__c" in layout:
            acc["risk_watchlist__c"] = [rng.choice(("key_account", "overdue"))]  # a user's own options
        if rng.random() < 0.06:
            at = max(int(acc["create_time"]), _ms(day0 - timedelta(days=rng.randint(1, 60))))
            owner = acc["owner"][0]
            rec = {"active_record_content": rng.choice(_FOLLOW_UPS), "account_id": rid, "owner": [owner],
                   "interactive_types": rng.choice(("1", "2", "3", "4")),
                   "related_object_data": [{"describe_api_name": "AccountObj", "id": rid, "name": acc["name"]}],
                   "name": f"{store.next_auto_number():08d}", "create_time": at}
            store.insert("ActiveRecordObj", rec, owner, at_ms=at)
            acc["last_followed_time"] = at
    store.changed("AccountObj")



_TOUCH_CANON = ("max_days_past_due", "overdue_amount", "credit_limit", "disputes_12m")


def user_edit(store: FxiaokeStore, obj: str, rec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The field changes a CRM user makes to one record (`/__sandbox/touch`), in wire form."""
    schema = store.schema
    layout = schema.fields[obj]
    if obj == "AccountObj":
        where = schema.canonical["accounts"]
        if "disputes_12m" not in where:  # no credit fields in this tenant: a clerk edits a standard one
            return {"account_level": rng.choice(("1", "2", "3")), "remark": f"客户回访 {rng.randint(1, 999)}"}
        canon: dict[str, Any] = {}
        for key in _TOUCH_CANON:
            value = rec.get(where[key])
            canon[key] = None if value is None else float(value)
        before = dict(canon)
        touch_account(rng, canon)
        return {where[k]: field_value(layout[where[k]], v) for k, v in canon.items() if v != before[k]}
    if obj == schema.deal_object:
        amount = schema.canonical["deals"]["amount"]
        if rec.get(amount) is not None and rng.random() < 0.5:
            return {amount: field_value(layout[amount], round(float(rec[amount]) * rng.uniform(0.75, 1.4), -2))}
        if obj == "OpportunityObj":
            return {"probability": field_value(layout["probability"], min(90, int(rec.get("probability") or 0) + 10))}
        return {"sales_stage": str(min(int(rec.get("sales_stage") or "1") + 1, 4))}
    if obj == "ActiveRecordObj":
        return {"active_record_content": f"{rec.get('active_record_content', '')}（已补充）"}
    return {"name": f"{rec.get('name', '')}*"} if "name" in layout and not layout["name"].read_only else {}
