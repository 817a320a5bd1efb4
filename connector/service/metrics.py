"""Prometheus metrics of the daemon's runs, in their own registry (`/metrics`)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from connector.outcome import RunReport
from connector.state import StateStore

__all__ = ["Metrics"]

TIERS = ("low", "medium", "high", "critical")


class Metrics:
    """Counters per job and run kind (job or monitor), updated after every run the daemon makes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("riskbridge_runs", "Runs by job, kind and status", ["job", "kind", "status"], registry=r)
        self.records = Counter("riskbridge_records", "Records read, written and failed", ["job", "object", "outcome"],
                               registry=r)
        self.tasks = Counter("riskbridge_tasks_created", "Tasks created in the CRM", ["job"], registry=r)
        self.tags = Counter("riskbridge_tags_changed", "Watchlist tags added or removed", ["job", "change"],
                            registry=r)
        self.api_calls = Counter("riskbridge_api_calls", "CRM API calls", ["job"], registry=r)
        self.quota_left = Gauge("riskbridge_api_quota_left", "API calls left in the CRM's allowance, as last reported",
                                ["job"], registry=r)
        self.last_success = Gauge("riskbridge_last_success_timestamp_seconds",
                                  "When the job's last successful run finished", ["job", "kind"], registry=r)
        self.duration = Histogram("riskbridge_run_duration_seconds", "Run duration", ["job", "kind"], registry=r,
                                  buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600))
        self.tier = Gauge("riskbridge_accounts", "Accounts by current risk tier", ["job", "tier"], registry=r)
        self.watchlist = Gauge("riskbridge_watchlist_size", "Accounts on the watchlist", ["job"], registry=r)
        self.ticks = Counter("riskbridge_ticks", "Scheduled ticks seen by this replica, by outcome: claimed, skipped "
                             "(another replica claimed it), ran, covered (a later run did its work), failed",
                             ["job", "kind", "outcome"], registry=r)

    def observe(self, kind: str, report: RunReport, finished: datetime) -> None:
        """Count one finished (or failed) run."""
        job = report.job
        self.runs.labels(job, kind, report.status).inc()
        for obj, counts in report.objects.items():
            self.records.labels(job, obj, "read").inc(counts.extracted)
            self.records.labels(job, obj, "written").inc(counts.written)
            self.records.labels(job, obj, "failed").inc(counts.failed)
        self.tasks.labels(job).inc(report.tasks_created)
        self.tags.labels(job, "added").inc(report.tags_added)
        self.tags.labels(job, "removed").inc(report.tags_removed)
        self.api_calls.labels(job).inc(report.api_calls)
        if report.api_usage is not None:
            used, limit = report.api_usage
            self.quota_left.labels(job).set(max(limit - used, 0))
        self.duration.labels(job, kind).observe(report.duration_s)
        if report.status == "success":
            self.last_success.labels(job, kind).set(finished.timestamp())

    def tick(self, job: str, kind: str, outcome: str) -> None:
        """Count one tick outcome (`connector.service.replica`)."""
        self.ticks.labels(job, kind, outcome).inc()

    def portfolio(self, store: StateStore, job: str) -> None:
        """Accounts by tier and the watchlist size, as the state store has them now."""
        counts = store.tier_counts(job)
        for tier in TIERS:
            self.tier.labels(job, tier).set(counts.get(tier, 0))
        self.watchlist.labels(job).set(store.watchlist_count(job))

    def render(self) -> bytes:
        return generate_latest(self.registry)
