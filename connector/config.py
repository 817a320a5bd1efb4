"""The settings model for config.toml: connections, jobs and the state store.

One file, validated before any network call, with every problem reported at once. Environment
variables override scalar keys: ``RISKBRIDGE_STATE_URL``, ``RISKBRIDGE_CONNECTIONS__SF__INSTANCE_URL``
(``__`` separates levels). Secrets are never required inline: a secret is ``"env:NAME"``,
``"file:/path"`` or, for throwaway sandboxes only, the literal value. Resolved secrets are
`SecretStr` and never appear in reprs, logs or errors.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from connector.errors import ConfigError, ConfigProblem
from connector.mapping import Mapping, load_mapping
from connector.model import ObjectKind

__all__ = [
    "Config", "FxiaokeAuth", "FxiaokeConnection", "Job", "SalesforceAuth", "SalesforceConnection", "ZohoConnection",
    "load_config", "resolve_secret",
]

ENV_PREFIX = "RISKBRIDGE_"
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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def resolve_secret(reference: SecretStr | str, key: str, environ: dict[str, str] | None = None) -> SecretStr:
    """Read a secret from ``env:NAME``, ``file:PATH`` or a literal; the error names the key, not the value."""
    source = reference.get_secret_value() if isinstance(reference, SecretStr) else reference
    if source.startswith("env:"):
        name = source[4:]
        value = (os.environ if environ is None else environ).get(name)
        if not value:
            raise ConfigError([ConfigProblem("environment", key, f"environment variable {name} is not set",
                                             f"export {name}=... before running (an empty value counts as unset)")])
        return SecretStr(value)
    if source.startswith("file:"):
        path = Path(source[5:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError([ConfigProblem(str(path), key, f"cannot read secret file: {exc.strerror}",
                                             "check the path and its permissions")]) from None
        if not text:
            raise ConfigError([ConfigProblem(str(path), key, "the secret file is empty")])
        return SecretStr(text)
    return SecretStr(source)


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


class TaskPolicy(_Strict):
    enabled: bool = True
    tiers: list[Tier] = Field(default_factory=lambda: list[Tier](["high", "critical"]))
    deal_over_credit: bool = True
    on_first_assessment: bool = Field(
        default=False, description="also create tasks for records already high on their first assessment")
    due_days: dict[Tier, int] = Field(default_factory=lambda: dict[Tier, int]({"critical": 1, "high": 3, "medium": 7, "low": 14}))


class WatchlistPolicy(_Strict):
    enabled: bool = True
    enter_tier: Tier = "high"
    exit_after_runs: int = Field(default=3, ge=1, description="consecutive assessments below enter_tier to leave")
    tag: str = Field(default="credit-watchlist", min_length=1, max_length=25)
    topic: bool = Field(default=False, description="Salesforce: also assign a Topic (one extra write each)")


class Job(_Strict):
    connection: str
    mapping: str
    scorecard: str = "default"
    objects: list[ObjectKind] = Field(default_factory=lambda: list[ObjectKind](["accounts", "deals"]))
    schedule: str = Field(default="*/30 * * * *", description="cron expression for the scheduler")
    dry_run: bool = False
    batch_size: int = Field(default=2000, ge=1, le=50000)
    bulk_threshold: int = Field(default=2000, ge=1, description="Salesforce: Bulk API 2.0 above this many updates")
    lang: Literal["en", "zh"] = "en"
    tasks: TaskPolicy = Field(default_factory=TaskPolicy)
    watchlist: WatchlistPolicy = Field(default_factory=WatchlistPolicy)


    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc}); five fields, e.g. \"*/30 * * * *\"") from None
        return value


class Config(_Strict):
    state_url: str = "sqlite:///riskbridge.db"
    connections: dict[str, Connection]
    jobs: dict[str, Job]
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


def _key(loc: tuple[int | str, ...]) -> str:
    """A dotted key path, without the CRM tag pydantic inserts for the connection union."""
    parts = [str(p) for p in loc]
    if len(parts) > 2 and parts[0] == "connections" and parts[2] in ("salesforce", "zoho", "fxiaoke"):
        del parts[2]
    return ".".join(parts)


def _env_overrides(raw: dict[str, Any], environ: dict[str, str]) -> None:
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


def _resolve_path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    """Read, override from the environment and validate a config file, mappings and secrets included.

    Raises one `ConfigError` listing every problem; makes no network call.
    """
    source = str(path)
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(source, "", "config file not found",
                                         "copy config.example.toml, or run `riskbridge sandbox serve --write-config`")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(source, "", f"not valid TOML: {exc}")]) from None
    env = dict(os.environ if environ is None else environ)
    _env_overrides(raw, env)
    problems: list[ConfigProblem] = []
    config: Config | None = None
    try:
        config = Config.model_validate({**raw, "source": source})
    except ValidationError as exc:
        problems += [ConfigProblem(source, _key(e["loc"]), e["msg"],
                                   "remove this key or check its spelling" if e["type"] == "extra_forbidden" else "")
                     for e in exc.errors()]
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
                if isinstance(conn, dict) and conn.get("crm") not in (None, mapping.crm):
                    problems.append(ConfigProblem(source, f"jobs.{job_name}.mapping",
                                                  f"mapping is for {mapping.crm}, connection is {conn.get('crm')}"))
                if isinstance(conn, dict) and conn.get("crm") == "fxiaoke" and mapping.deals is not None and \
                        mapping.deals.object != conn.get("opportunity_object", "NewOpportunityObj"):
                    problems.append(ConfigProblem(source, f"jobs.{job_name}.mapping",
                                                  f"the mapping reads deals from {mapping.deals.object}, the connection's "
                                                  f"opportunity_object is {conn.get('opportunity_object', 'NewOpportunityObj')}",
                                                  "use the object the tenant has active (object/list) in both"))
                if "deals" in job.get("objects", ["accounts", "deals"]) and mapping.deals is None:
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
    for conn_name, conn in connections.items():
        auth = conn.get("auth") if isinstance(conn, dict) else None
        if not isinstance(auth, dict):
            continue
        for key in ("consumer_secret", "password", "security_token", "private_key", "client_secret", "refresh_token",
                    "app_secret", "permanent_code"):
            value = auth.get(key)
            if isinstance(value, str):
                try:
                    resolve_secret(value, f"connections.{conn_name}.auth.{key}", env)
                except ConfigError as exc:
                    problems += exc.problems
    if problems or config is None:
        raise ConfigError(problems)
    for job_name, job_model in config.jobs.items():
        # Fxiaoke's users are Chinese credit managers: reasons, advice and tasks in Chinese unless set.
        if config.connections[job_model.connection].crm == "fxiaoke" and "lang" not in jobs.get(job_name, {}):
            job_model.lang = "zh"
        job_model.mapping = str(_resolve_path(base, job_model.mapping))
        if job_model.scorecard != "default":
            job_model.scorecard = str(_resolve_path(base, job_model.scorecard))
    config.mappings.update(mappings)
    return config
