"""The sandbox's stage-specific faults: quota and session expiry by path, exclusions, call watchers."""

from __future__ import annotations

from connector.sandbox.faults import FaultInjector, FaultSpec


def injector(**spec: object) -> FaultInjector:
    faults = FaultInjector()
    faults.configure(FaultSpec.model_validate(spec))
    return faults


def test_quota_by_path_lasts_until_the_spec_is_set_again() -> None:
    faults = injector(quota={"every": 1, "path": "/Tasks/upsert"})
    assert faults.on_call("PUT", "/crm/v8/Accounts") == (None, False)
    assert faults.on_call("POST", "/crm/v8/Tasks/upsert") == ("quota", False)
    assert faults.on_call("GET", "/crm/v8/Accounts") == ("quota", False)  # the allowance is gone for everything
    faults.configure(FaultSpec())
    assert faults.on_call("GET", "/crm/v8/Accounts") == (None, False)


def test_session_expiry_at_one_stage_and_exclusions() -> None:
    faults = injector(session_expiry={"every": 1, "times": 1, "path": "/jobs/ingest"},
                      error_500={"every": 1, "path": "composite/sobjects", "exclude": "/Task"})
    assert faults.on_call("PATCH", "/services/data/v59.0/composite/sobjects/Task/Riskbridge_Key__c") == (None, False)
    assert faults.on_call("PATCH", "/services/data/v59.0/composite/sobjects") == ("error_500", False)
    assert faults.on_call("POST", "/services/data/v59.0/jobs/ingest") == (None, True)
    assert faults.on_call("POST", "/services/data/v59.0/jobs/ingest") == (None, False)  # times=1


def test_a_watcher_sees_every_call_and_can_refuse_one() -> None:
    faults = injector()
    seen: list[str] = []
    faults.watch(lambda method, path: seen.append(f"{method} {path}") or path.endswith("/refuse"))
    assert faults.on_call("GET", "/a") == (None, False)
    assert faults.on_call("POST", "/refuse") == ("error_500", False)
    assert seen == ["GET /a", "POST /refuse"]
