"""Running riskbridge as a service: monitor runs, run history, health, metrics, alerts, the daemon, and the
tick claims that let several daemons share one state store (`ticks`, `replica`).

`daemon.Daemon` wires them around the APScheduler from `connector.scheduler`; each module holds one
concept and none of them prints.
"""

from connector.service.alerts import Alert, AlertSender
from connector.service.daemon import Daemon
from connector.service.health import Health
from connector.service.history import LastRun, last_runs
from connector.service.metrics import Metrics
from connector.service.monitor import watched_accounts
from connector.service.replica import Replica, TickExecutor
from connector.service.ticks import Tick, TickBook

__all__ = ["Alert", "AlertSender", "Daemon", "Health", "LastRun", "Metrics", "Replica", "Tick", "TickBook", "TickExecutor",
           "last_runs", "watched_accounts"]
