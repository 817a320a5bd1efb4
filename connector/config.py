"""The settings model for config.toml: connections, jobs and the state store.

One file, validated before any network call, with every problem reported at once. Environment
variables override scalar keys: ``RISKBRIDGE_STATE_URL``, ``RISKBRIDGE_CONNECTIONS__SF__INSTANCE_URL``
(``__`` separates levels). Secrets are never required inline: a secret is ``"env:NAME"``,
``"file:/path"`` or, for a connection whose URLs are all loopback (a sandbox), the literal value;
a literal secret for any other host is a configuration error. ``state_url`` may be a reference too,
so a database password never has to be written in the file. Resolved secrets are `SecretStr` and
never appear in reprs, logs or errors.
"""

from __future__ import annotations

import os
import tomllib
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.errors import ConfigError, ConfigProblem
from connector.lease import DEFAULT_TTL_S, MIN_TTL_S
from connector.mapping import Mapping, load_mapping
from connector.model import ObjectKind
from connector.problems import field_names, from_validation_error, read_text
from connector.secret_refs import resolve_secret, secret_problems
from connector.sources.spec import SourceSpec
from connector.store_url import check_state_url, is_reference

__all__ = [
    "Alerts", "Config", "Email", "FxiaokeAuth", "FxiaokeConnection", "Job", "Monitor", "Service", "Webhook",
    "SalesforceAuth", "SalesforceConnection", "ZohoConnection", "connection_hosts", "load_config",
    "resolve_secret",
]

ENV_PREFIX = "RISKBRIDGE_"
MAX_DUE_DAYS = 365
ZOHO_DATA_CENTRES: dict[str, tuple[str, str]] = {
    "com": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "com.au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "com.cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
}
Tier = Literal["low", "medium", "high", "critical"]
AlertEvent = Literal["failed", "partial", "stale", "watchlist"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The raw reference ("env:NAME", "file:PATH" or a literal) is itself kept as a SecretStr so a literal
# never shows up in a repr, a log line or a validation error.
Secret = SecretStr


class SalesforceAuth(_Strict):
    method: Literal["jwt", "client_credentials", "password"]
    consumer_key: str | None = None
    consumer_secret: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    security_token: Secret | None = None
    private_key: Secret | None = None  # PEM text, usually "file:/etc/riskbridge/sf.pem"

    @model_validator(mode="after")
    def _complete(self) -> SalesforceAuth:
        need = {"jwt": ("consumer_key", "username", "private_key"),
                "client_credentials": ("consumer_key", "consumer_secret"),
                "password": ("username", "password")}[self.method]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"auth method {self.method!r} needs {', '.join(missing)}")
        return self


class SalesforceConnection(_Strict):
    crm: Literal["salesforce"]
    instance_url: str = Field(pattern=r"^https?://")
    login_url: str = Field(default="https://login.salesforce.com", pattern=r"^https?://")
    api_version: str = Field(default="59.0", pattern=r"^\d+\.\d$")
    auth: SalesforceAuth
    timeout_s: float = Field(default=120.0, gt=0)
    api_reserve: int = Field(default=1000, ge=0, description="calls left for the org's other integrations")
    bulk_query_threshold: int = Field(default=50_000, ge=0, description="a full read of at least this many "
                                      "records goes through a Bulk API 2.0 query job; 0 never")
    # Collections calls of one batch in flight at once. Salesforce allows 25 concurrent long-running
    # requests per org (5 in Developer orgs), shared with every other integration: stay well below.
    write_concurrency: int = Field(default=4, ge=1, le=25, description="write calls in flight at once")


class ZohoAuth(_Strict):
    client_id: str = Field(min_length=1)
    client_secret: Secret
    refresh_token: Secret


class ZohoConnection(_Strict):
    crm: Literal["zoho"]
    data_centre: Literal["com", "eu", "in", "com.au", "jp", "com.cn", "ca", "sa"] | None = None
    accounts_url: str | None = Field(default=None, pattern=r"^https?://")
    api_url: str | None = Field(default=None, pattern=r"^https?://")
    auth: ZohoAuth
    timeout_s: float = Field(default=120.0, gt=0)
    trigger: list[Literal["workflow", "approval", "blueprint"]] = Field(default_factory=list)
    token_cache: str | None = Field(default=None, description="file that keeps the access token between runs")
    bulk_read_threshold: int = Field(default=50_000, ge=0, description="a full read of at least this many records "
                                     "goes through the Bulk Read API (scope ZohoCRM.bulk.read); 0 turns it off")
    # Zoho's concurrency limit is per org and app: Free 5, Standard 10, Professional 15, Enterprise 20,
    # Ultimate 25 (about 10 on heavy APIs such as bulk updates). 4 fits every edition.
    write_concurrency: int = Field(default=4, ge=1, le=25, description="write calls in flight at once")

    @model_validator(mode="after")
    def _urls(self) -> ZohoConnection:
        if self.data_centre is None and (self.accounts_url is None or self.api_url is None):
            raise ValueError("give data_centre, or both accounts_url and api_url")
        return self

    @property
    def urls(self) -> tuple[str, str]:
        """(accounts URL, API URL): explicit URLs win over the data centre's."""
        dc = ZOHO_DATA_CENTRES[self.data_centre] if self.data_centre else ("", "")
        return (self.accounts_url or dc[0]).rstrip("/"), (self.api_url or dc[1]).rstrip("/")


class FxiaokeAuth(_Strict):
    app_id: str = Field(min_length=1, description="the self-built app's appId (FSAID_…)")
    app_secret: Secret
    permanent_code: Secret


class FxiaokeConnection(_Strict):
    """Fxiaoke (纷享销客) OpenAPI. Every ⚠ reading of docs/crm-fxiaoke.md that a tenant decides is a key here."""

    crm: Literal["fxiaoke"]
    host: str = Field(default="https://open.fxiaoke.com", pattern=r"^https?://",
                      description="the tenant's cloud gateway: open.fxiaoke.com, open-hwcloud.fxiaoke.com, …")
    auth_style: Literal["token", "legacy"] = Field(
        default="token", description="token: /oauth2.0/token + headers; legacy: corpAccessToken in the body")
    auth: FxiaokeAuth
    operator_user_id: str = Field(
        min_length=1, description="the employee every call runs as: its id (\"1000\") in token style, "
                                  "its open id (FSUID_…) in legacy style")
    timeout_s: float = Field(default=60.0, gt=0)
    rate_limit: int = Field(default=60, ge=1, description="calls per rate_window_s per API path (60 or 100 / 20 s)")
    rate_window_s: float = Field(default=20.0, gt=0)
    concurrency: int = Field(default=3, ge=1, le=8, description="updates in flight at once")
    daily_quota: int | None = Field(default=None, ge=1, description="calls the tenant's OpenAPI packs allow per day")
    daily_quota_reserve: int = Field(default=0, ge=0, description="calls of daily_quota left for other integrations; "
                                     "a run stops once it made daily_quota - daily_quota_reserve calls (per run)")
    token_cache: str | None = Field(default=None, description="file that keeps the access token between runs")
    opportunity_object: Literal["NewOpportunityObj", "OpportunityObj"] = "NewOpportunityObj"
    followup_object: str = Field(default="ActiveRecordObj", min_length=1,
                                 description="ActiveRecordObj, or a custom object (…__c) with an account lookup")
    followup_key_field: str = Field(default="risk_alert_key__c", min_length=1,
                                    description="text field on the follow-up object that holds riskbridge's key")
    watchlist_style: Literal["select_many", "boolean"] = "select_many"
    watchlist_option: str = Field(default="credit_watch", min_length=1,
                                  description="select_many style: the option value that means on the watchlist")

    @model_validator(mode="after")
    def _quota(self) -> FxiaokeConnection:
        if self.daily_quota is not None and self.daily_quota_reserve >= self.daily_quota:
            raise ValueError("daily_quota_reserve must be below daily_quota")
        return self


Connection = Annotated[SalesforceConnection | ZohoConnection | FxiaokeConnection, Field(discriminator="crm")]


def _due_days(value: int) -> int:
    if not 0 <= value <= MAX_DUE_DAYS:
        raise ValueError(f"{value} days: a task must fall due between 0 and {MAX_DUE_DAYS} days after it is created")
    return value


DueDays = Annotated[int, AfterValidator(_due_days)]


class TaskPolicy(_Strict):
    enabled: bool = True
    tiers: list[Tier] = Field(default_factory=lambda: list[Tier](["high", "critical"]))
    deal_over_credit: bool = True
    on_first_assessment: bool = Field(
        default=False, description="the first run treats every record as escalating into its tier: tasks for "
                                   "all of `tiers` at once, no caps (first_run_* are then unused)")
    first_run_tiers: list[Tier] = Field(
        default_factory=lambda: list[Tier](["critical"]),
        description="on the job's first run, records already in these tiers get a task, within the caps below")
    first_run_cap: int = Field(default=50, ge=0, description="first-run tasks created per run, riskiest first; "
                                                              "the rest are created by later runs")
    first_run_cap_per_owner: int = Field(default=5, ge=0, description="first-run tasks per owner per run")
    due_days: dict[Tier, DueDays] = Field(
        default_factory=lambda: dict[Tier, DueDays]({"critical": 1, "high": 3, "medium": 7, "low": 14}))


class WatchlistPolicy(_Strict):
    enabled: bool = True
    enter_tier: Tier = "high"
    exit_after_runs: int = Field(default=3, ge=1, description="consecutive assessments below enter_tier to leave")
    tag: str = Field(default="credit-watchlist", min_length=1, max_length=25)
    topic: bool = Field(default=False, description="Salesforce: also assign a Topic (one extra write each)")


class Monitor(_Strict):
    """`[jobs.X.monitor]`: a faster schedule that re-reads by id only the riskiest accounts (and their deals)."""

    schedule: str = Field(default="*/10 * * * *", description="cron expression for the monitor runs")
    tiers: list[Tier] = Field(default_factory=lambda: list[Tier](["high", "critical"]), min_length=0)
    watchlist: bool = Field(default=True, description="also watch every account on the watchlist")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _check_cron(value)

    @model_validator(mode="after")
    def _watches_something(self) -> Monitor:
        if not self.tiers and not self.watchlist:
            raise ValueError("a monitor with no tiers and watchlist = false watches nothing")
        return self


def _check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger  # only configs with a schedule pay for the import

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"not a cron expression ({exc}); five fields, e.g. \"*/30 * * * *\"") from None
    return value


def _loopback_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not host:port, e.g. \"127.0.0.1:9464\"")
    try:
        loopback = ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"{host!r} is not a loopback address: the endpoint is unauthenticated; expose it "
                         "through a reverse proxy or the node's metrics agent")
    return value


class Service(_Strict):
    """`[service]`: the daemon's health and metrics endpoint, its stop bound, and the jobs' leases."""

    listen: Annotated[str, AfterValidator(_loopback_listen)] | None = Field(
        default=None, description='loopback "host:port" for /healthz and /metrics, e.g. "127.0.0.1:9464"')
    stop_timeout_s: float = Field(default=60.0, gt=0, description="graceful stop: seconds to finish the batch")
    stale_after_periods: float = Field(default=3.0, gt=0, description="a job is stale after this many periods "
                                       "without a successful run")
    lease_ttl_s: float = Field(default=DEFAULT_TTL_S, ge=MIN_TTL_S, description="a job's lease lapses this long "
                               "after its holder's last renewal (a heartbeat renews it every third of it)")
    host_name: str | None = Field(default=None, min_length=1, max_length=60, pattern=r"^[^:\s]+$",
                                  description="the host name in this process's lease owners (default: the "
                                  "machine's); replicas that share one must share a process table")


class Webhook(_Strict):
    url: Secret  # a Slack/Feishu/WeCom hook URL embeds its token: "env:NAME" or "file:/path" outside loopback
    format: Literal["json", "slack", "feishu", "wecom"] = "json"
    timeout_s: float = Field(default=10.0, gt=0)
    attempts: int = Field(default=4, ge=1, le=10)


class Email(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(min_length=3, pattern=r"@")
    to: list[Annotated[str, Field(pattern=r"@")]] = Field(min_length=1)
    timeout_s: float = Field(default=30.0, gt=0)
    ca_file: str | None = Field(default=None, description="CA bundle for a server with a private certificate")


class Alerts(_Strict):
    """`[alerts]`: where failed or partial runs, stale jobs and critical watchlist entries are sent."""

    on: list[AlertEvent] = Field(default_factory=lambda: list[AlertEvent](["failed", "partial", "stale", "watchlist"]))
    webhook: Webhook | None = None
    email: Email | None = None


class Job(_Strict):
    connection: str
    mapping: str
    scorecard: str = "default"
    objects: list[ObjectKind] = Field(default_factory=lambda: list[ObjectKind](["accounts", "deals"]))
    schedule: str = Field(default="*/30 * * * *", description="cron expression for the scheduler")
    dry_run: bool = False
    batch_size: int = Field(default=2000, ge=1, le=50000)
    bulk_threshold: int = Field(default=10_000, ge=1, description="Salesforce: a run reading this many records writes through Bulk API 2.0")
    lang: Literal["en", "zh"] = "en"
    tasks: TaskPolicy = Field(default_factory=TaskPolicy)
    watchlist: WatchlistPolicy = Field(default_factory=WatchlistPolicy)
    monitor: Monitor | None = None
    sources: list[str] = Field(default_factory=list, description="[sources.NAME] joined to the accounts, in order")

    @field_validator("objects")
    @classmethod
    def _accounts_first(cls, value: list[ObjectKind]) -> list[ObjectKind]:
        if "accounts" not in value:
            raise ValueError('deals are scored with their account, so objects must include "accounts": '
                             '["accounts"] or ["accounts", "deals"]' if value else
                             'nothing to sync: objects must include "accounts" (["accounts"] or ["accounts", "deals"])')
        return list(dict.fromkeys(value))

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger  # only configs with a schedule pay for the import

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc}); five fields, e.g. \"*/30 * * * *\"") from None
        return value


class Config(_Strict):
    state_url: str = "sqlite:///riskbridge.db"
    connections: dict[str, Connection]
    jobs: dict[str, Job]
    service: Service = Field(default_factory=Service)
    alerts: Alerts = Field(default_factory=Alerts)
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    source: str = ""
    mappings: dict[str, Mapping] = Field(default_factory=dict, exclude=True)

    def job(self, name: str | None) -> tuple[str, Job]:
        if name is None:
            if len(self.jobs) == 1:
                return next(iter(self.jobs.items()))
            name = "default"
        if name not in self.jobs:
            raise ConfigError([ConfigProblem(self.source, f"jobs.{name}", "no such job",
                                             f"jobs defined: {', '.join(sorted(self.jobs)) or 'none'}")])
        return name, self.jobs[name]


_KNOWN_KEYS = field_names(Config)


def connection_hosts(config: Config, job: str | None) -> str:
    """The hosts a job's connection calls (for connection errors): "connection 'x': login h1, API h2"."""
    try:
        _, job_model = config.job(job)
    except ConfigError:
        return ""
    conn = config.connections.get(job_model.connection)
    if conn is None:
        return ""
    if isinstance(conn, SalesforceConnection):
        urls = {"login": conn.login_url, "API": conn.instance_url}
    elif isinstance(conn, FxiaokeConnection):
        urls = {"OpenAPI": conn.host}
    else:
        accounts_url, api_url = conn.urls
        urls = {"accounts": accounts_url, "API": api_url}
    return f"connection {job_model.connection!r}: " + ", ".join(
        f"{what} {urlsplit(url).netloc or url}" for what, url in urls.items())


def _env_overrides(raw: dict[str, Any], environ: dict[str, str]) -> dict[str, str]:
    """Apply ``RISKBRIDGE_…`` variables to the raw config; returns {dotted key: variable} for messages."""
    applied: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = value
            applied[".".join(path)] = name
    return applied


def _raw_column_problems(source: str, job_name: str, scorecard: Path) -> list[ConfigProblem]:
    """A sync job's scorecard must not bin raw columns that no CRM field maps to: every account would
    score them as missing, silently."""
    from scoring.rawcolumns import crm_unsuppliable

    outside = crm_unsuppliable(scorecard)
    if not outside:
        return []
    names = ", ".join(outside)
    return [ConfigProblem(source, f"jobs.{job_name}.scorecard",
                          f"the scorecard bins raw column(s) {names}, which are not canonical account fields; "
                          "a CRM sync cannot supply them",
                          f"retrain without them (riskbridge train --exclude {','.join(outside)}) for this job, "
                          "and score files that have them with riskbridge score")]


def _token_cache_problems(connections: dict[str, Any], source: str) -> list[ConfigProblem]:
    """A token cache must be a file in an existing folder; otherwise the first token write would crash."""
    problems = []
    for name, conn in connections.items():
        value = conn.get("token_cache") if isinstance(conn, dict) else None
        if not isinstance(value, str) or not value:
            continue
        path = Path(value).expanduser()
        if path.is_dir():
            problems.append(ConfigProblem(source, f"connections.{name}.token_cache", f"{path} is a folder",
                                          f"name a file inside it, e.g. {path / 'zoho-token.json'}"))
        elif not path.parent.is_dir():
            problems.append(ConfigProblem(source, f"connections.{name}.token_cache",
                                          f"the folder {path.parent} does not exist", "create it or fix the path"))
    return problems


def _state_problems(raw: dict[str, Any], env: dict[str, str], overrides: dict[str, str],
                    source: str) -> list[ConfigProblem]:
    value = raw.get("state_url", Config.model_fields["state_url"].default)
    if not isinstance(value, str):
        return []  # the model reports the type
    variable = overrides.get("state_url")
    url, literal = value, variable is None and not is_reference(value)
    if is_reference(value):
        try:
            url = resolve_secret(value, "state_url", env).get_secret_value()
        except ConfigError as exc:
            return exc.problems
    problems = check_state_url(url, source=source, literal=literal)
    if variable is not None:
        problems = [ConfigProblem(p.file, p.key, f"{p.message} (the value comes from the environment variable "
                                  f"{variable})", p.hint) for p in problems]
    return problems


def _alert_problems(raw: dict[str, Any], env: dict[str, str], source: str) -> list[ConfigProblem]:
    """Alert secrets (a hook URL carries its token; the SMTP password): readable, literal only for loopback."""
    alerts = raw.get("alerts")
    if not isinstance(alerts, dict):
        return []
    problems: list[ConfigProblem] = []
    hook, mail = alerts.get("webhook"), alerts.get("email")
    checks = []
    if isinstance(hook, dict) and isinstance(hook.get("url"), str):
        value = hook["url"]
        url = value if not is_reference(value) else None
        checks.append(("alerts.webhook.url", value, url is not None and _is_loopback_url(url)))
    if isinstance(mail, dict) and isinstance(mail.get("password"), str):
        checks.append(("alerts.email.password", mail["password"], _is_loopback_host(str(mail.get("host", "")))))
    for key, value, loopback in checks:
        if is_reference(value):
            try:
                resolve_secret(value, key, env)
            except ConfigError as exc:
                problems += exc.problems
        elif not loopback:
            problems.append(ConfigProblem(source, key, "a literal secret is accepted only for a loopback host",
                                          f'write "env:NAME" or "file:/path" instead, e.g. {key.rsplit(".", 1)[1]} '
                                          f'= "env:RISKBRIDGE_ALERT_{key.rsplit(".", 1)[1].upper()}"'))
    return problems


def _is_loopback_host(host: str) -> bool:
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _is_loopback_url(url: str) -> bool:
    return _is_loopback_host(urlsplit(url).hostname or "")
def _source_problems(raw: dict[str, Any], jobs: dict[str, Any], base: Path, env: dict[str, str],
                     source: str) -> list[ConfigProblem]:
    """Sources the jobs name exist, files are there, database URLs resolve and keep passwords out of the file."""
    sources: dict[str, Any] = raw["sources"] if isinstance(raw.get("sources"), dict) else {}
    problems = []
    for job_name, job in jobs.items():
        names = job.get("sources", []) if isinstance(job, dict) else []
        for name in names if isinstance(names, list) else []:
            spec = sources.get(str(name))
            if spec is None:
                problems.append(ConfigProblem(source, f"jobs.{job_name}.sources", f"no source {name!r}",
                                              f"sources defined: {', '.join(sorted(sources)) or 'none'}"))
            elif isinstance(spec, dict) and spec.get("kind") == "rates":
                problems.append(ConfigProblem(source, f"jobs.{job_name}.sources", f"{name!r} is a rates table",
                                              "name it in the invoices source's rates = ... instead"))
    for name, spec in sources.items():
        if not isinstance(spec, dict):
            continue
        rates = spec.get("rates")
        if isinstance(rates, str) and (not isinstance(sources.get(rates), dict) or sources[rates].get("kind") != "rates"):
            problems.append(ConfigProblem(source, f"sources.{name}.rates", f"no rates source {rates!r}",
                                          'define [sources.X] with kind = "rates"'))
        if spec.get("changed_column") and spec.get("kind") == "invoices":
            problems.append(ConfigProblem(source, f"sources.{name}.changed_column", "invoice figures are computed "
                                          "from all of a customer's invoices", "remove changed_column here"))
        path = spec.get("path")
        if isinstance(path, str) and not _resolve_path(base, path).is_file():
            problems.append(ConfigProblem(source, f"sources.{name}.path", f"{_resolve_path(base, path)}: file not found",
                                          "a path relative to the config file"))
        url = spec.get("url")
        if isinstance(url, str):
            try:
                resolved = resolve_secret(url, f"sources.{name}.url", env).get_secret_value()
            except ConfigError as exc:
                problems += exc.problems
                continue
            problems += _driver_problems(name, resolved, source)
            parts = urlsplit(resolved)
            host = (parts.hostname or "").lower()
            if not is_reference(url) and parts.password and host not in ("127.0.0.1", "localhost", "::1"):
                problems.append(ConfigProblem(source, f"sources.{name}.url", "a password written in the file",
                                              'put the URL in a secret: url = "env:NAME" or "file:/path"'))
    return problems


def _driver_problems(name: str, url: str, source: str) -> list[ConfigProblem]:
    """The URL parses and its database driver is installed (no connection is made)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    key = f"sources.{name}.url"
    try:
        parsed = make_url(url)
    except ArgumentError:
        return [ConfigProblem(source, key, "not a database URL", "e.g. postgresql+psycopg://reader@host/finance")]
    extras = {"postgresql": "db", "mysql": "db", "mariadb": "db", "mssql": "mssql"}
    extra = extras.get(parsed.get_backend_name())
    hint = f"pip install 'riskbridge[{extra}]'" if extra else "install the SQLAlchemy driver for this URL"
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        return [ConfigProblem(source, key, f"no database dialect {parsed.drivername!r}", hint)]
    except ImportError as exc:
        return [ConfigProblem(source, key, f"the driver for {parsed.drivername} is not installed ({exc.name})", hint)]
    return []


def _resolve_path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    """Read, override from the environment and validate a config file, mappings and secrets included.

    Raises one `ConfigError` listing every problem; makes no network call.
    """
    source = str(path)
    file = Path(path)
    text, problem = read_text(file, "config file")
    if problem is not None or text is None:
        if problem is not None and problem.message == "config file not found":
            problem = ConfigProblem(source, "", problem.message,
                                    "copy config.example.toml, or run `riskbridge sandbox serve --write-config`")
        raise ConfigError([problem or ConfigProblem(source, "", "cannot read the config file")])
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(source, "", f"not valid TOML: {exc}")]) from None
    env = dict(os.environ if environ is None else environ)
    overrides = _env_overrides(raw, env)
    problems: list[ConfigProblem] = []
    config: Config | None = None
    try:
        config = Config.model_validate({**raw, "source": source})
    except ValidationError as exc:
        problems += from_validation_error(exc, source, known=_KNOWN_KEYS, env=overrides,
                                          drop=("salesforce", "zoho", "fxiaoke"))
    problems += _state_problems(raw, env, overrides, source)
    # The cross-references and files are checked on the raw data too, so one run lists every problem.
    base = file.resolve().parent
    connections: dict[str, Any] = raw["connections"] if isinstance(raw.get("connections"), dict) else {}
    jobs: dict[str, Any] = raw["jobs"] if isinstance(raw.get("jobs"), dict) else {}
    mappings: dict[str, Mapping] = {}
    for job_name, job in jobs.items():
        if not isinstance(job, dict):
            continue
        conn = connections.get(str(job.get("connection")))
        if job.get("connection") is not None and conn is None:
            problems.append(ConfigProblem(source, f"jobs.{job_name}.connection", f"no connection {job.get('connection')!r}",
                                          f"connections defined: {', '.join(sorted(connections)) or 'none'}"))
        if isinstance(job.get("mapping"), str):
            mapping_path = _resolve_path(base, job["mapping"])
            try:
                mapping = load_mapping(mapping_path)
                mappings[job_name] = mapping
                if isinstance(conn, dict) and conn.get("crm") in ("salesforce", "zoho", "fxiaoke") and conn["crm"] != mapping.crm:
                    problems.append(ConfigProblem(source, f"jobs.{job_name}.mapping",
                                                  f"mapping is for {mapping.crm}, connection is {conn.get('crm')}"))
                if isinstance(conn, dict) and conn.get("crm") == "fxiaoke" and mapping.deals is not None and \
                        mapping.deals.object != conn.get("opportunity_object", "NewOpportunityObj"):
                    problems.append(ConfigProblem(source, f"jobs.{job_name}.mapping",
                                                  f"the mapping reads deals from {mapping.deals.object}, the connection's "
                                                  f"opportunity_object is {conn.get('opportunity_object', 'NewOpportunityObj')}",
                                                  "use the object the tenant has active (object/list) in both"))
                objects = job.get("objects", ["accounts", "deals"])
                if isinstance(objects, list) and "deals" in objects and mapping.deals is None:
                    problems.append(ConfigProblem(source, f"jobs.{job_name}.objects",
                                                  "deals are synced but the mapping has no [deals] section"))
            except ConfigError as exc:
                problems += [ConfigProblem(p.file, p.key, p.message, p.hint) if p.key else
                             ConfigProblem(source, f"jobs.{job_name}.mapping", f"{p.file}: {p.message}", p.hint)
                             for p in exc.problems]
        scorecard = job.get("scorecard", "default")
        if isinstance(scorecard, str) and scorecard != "default" and not _resolve_path(base, scorecard).is_file():
            problems.append(ConfigProblem(source, f"jobs.{job_name}.scorecard", "scorecard file not found",
                                          "use \"default\" or a path relative to the config file"))
        elif isinstance(scorecard, str) and scorecard != "default":
            problems += _raw_column_problems(source, job_name, _resolve_path(base, scorecard))
    problems += secret_problems(connections, env, overrides, source)
    problems += _token_cache_problems(connections, source)
    problems += _alert_problems(raw, env, source)
    problems += _source_problems(raw, jobs, base, env, source)
    if problems or config is None:
        raise ConfigError(problems)
    for spec in config.sources.values():
        if spec.path is not None:
            spec.path = str(_resolve_path(base, spec.path))
    for job_name, job_model in config.jobs.items():
        # Fxiaoke's users are Chinese credit managers: reasons, advice and tasks in Chinese unless set.
        if config.connections[job_model.connection].crm == "fxiaoke" and "lang" not in jobs.get(job_name, {}):
            job_model.lang = "zh"
        job_model.mapping = str(_resolve_path(base, job_model.mapping))
        if job_model.scorecard != "default":
            job_model.scorecard = str(_resolve_path(base, job_model.scorecard))
    config.mappings.update(mappings)
    return config
