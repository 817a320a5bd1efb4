"""The Monday risk report: the state store's history as one self-contained HTML file (issue 15).

    data = gather(store, job, since=..., scorecard=..., open_tasks=client.open_task_keys)
    html = render(data, lang="zh")

`gather` reads; `charts` draws with matplotlib into inline SVG; `render` fills the Jinja2 template.
"""

from connector.riskreport.data import Mover, ReportData, RunLine, gather
from connector.riskreport.render import render

__all__ = ["Mover", "ReportData", "RunLine", "gather", "render"]
