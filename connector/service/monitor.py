"""Which accounts a monitor run watches: the job's riskiest tiers and its watchlist (seed 六: continuous
monitoring of high-risk customers)."""

from __future__ import annotations

from sqlalchemy import select

from connector.config import Monitor
from connector.state import StateStore
from connector.tables import AssessmentRow, WatchRow

__all__ = ["watched_accounts"]


def watched_accounts(store: StateStore, job: str, monitor: Monitor) -> list[str]:
    """Account ids whose last recorded assessment is in one of `monitor.tiers`, plus (with
    `monitor.watchlist`) every account on the job's watchlist; sorted, so runs read them in one order."""
    ids: set[str] = set()
    with store.session() as s:
        if monitor.tiers:
            ids.update(s.scalars(select(AssessmentRow.record_id).where(
                AssessmentRow.job == job, AssessmentRow.object == "accounts",
                AssessmentRow.tier.in_(monitor.tiers))))
        if monitor.watchlist:
            ids.update(s.scalars(select(WatchRow.record_id).where(WatchRow.job == job, WatchRow.on_list.is_(True))))
    return sorted(ids)
