"""The admin's path to a working job: `check`, `provision` and `mappings suggest`.

`metadata` is the CRM-neutral picture of an org's fields, `needs` what a job asks of them; `check`,
`provision` (with `sfdx` for a deployable Salesforce project) and `suggest` compare the two.
"""

from __future__ import annotations

__all__ = ["check", "metadata", "needs", "provision", "sfdx", "suggest"]
