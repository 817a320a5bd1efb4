"""`--log-format json`: one JSON object per log line, for log shippers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "quiet_apscheduler"]

EXTRA = ("job", "run_id", "event", "counts", "watched")


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, and the job, run id, event and counts a record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for key in EXTRA:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def quiet_apscheduler(verbose: bool) -> None:
    """APScheduler logs every job it adds and runs at INFO; keep that at WARNING unless -v."""
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
