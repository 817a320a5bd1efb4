"""One exception tree, grouped by what the caller does next.

    RiskbridgeError
    ├── ConfigError            fix the config or mapping file; nothing was sent (exit 2)
    │   ├── MappingError
    │   └── StateStoreError    the state store cannot be opened (state_url, a damaged database)
    │       └── StateStoreUnreachable  its database server did not answer
    ├── JobBusy                another run of the job holds its lock; try again later (exit 2)
    ├── ConnectionFailed       the CRM cannot be reached or refused our credentials (exit 3)
    │   └── AuthError
    ├── Retriable              try the same call again after a wait (429, 5xx, transport)
    ├── QuotaExhausted         stop the run cleanly, keep the cursor; retry tomorrow
    ├── Fatal                  the CRM rejected the request itself; retrying will not help
    └── RecordSkipped          one record is bad; skip it, record why, retry next run

Every error carries the context a person needs (file, key, hint; or endpoint and status), and
never a secret: messages are built from names, never from credential values.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConfigError",
    "ConfigProblem",
    "ConnectionFailed",
    "Fatal",
    "JobBusy",
    "MappingError",
    "QuotaExhausted",
    "RecordSkipped",
    "Retriable",
    "RiskbridgeError",
    "StateStoreError",
    "StateStoreUnreachable",
]


class RiskbridgeError(Exception):
    """Base of every error riskbridge raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a file an admin edits."""

    file: str
    key: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(RiskbridgeError):
    """A config, mapping or scorecard file is invalid. Lists every problem at once."""

    def __init__(self, problems: list[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(file="", key="", message=problems)]
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s):\n{lines}")


class MappingError(ConfigError):
    """A mapping file is invalid or does not match the CRM's fields."""


class StateStoreError(ConfigError):
    """The state store named by ``state_url`` cannot be opened or is not a riskbridge database."""


class StateStoreUnreachable(StateStoreError):
    """The state store's database server did not answer (``riskbridge state`` exits 3 on it)."""


class JobBusy(RiskbridgeError):
    """Another run of the same job holds its lock."""


class ConnectionFailed(RiskbridgeError):
    """The CRM could not be reached at all."""


class AuthError(ConnectionFailed):
    """The CRM refused our credentials (bad key, revoked token, wrong data centre)."""


class Retriable(RiskbridgeError):
    """A transient failure: rate limit, server error, dropped connection."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class QuotaExhausted(RiskbridgeError):
    """The CRM's daily API allowance is used up: stop cleanly and keep the cursor."""


class Fatal(RiskbridgeError):
    """The CRM rejected the request itself (a 4xx other than rate limiting)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RecordSkipped(RiskbridgeError):
    """One CRM record cannot be used this run; it is recorded and retried next run."""

    def __init__(self, record_id: str, reason: str) -> None:
        super().__init__(f"record {record_id}: {reason}")
        self.record_id = record_id
        self.reason = reason
