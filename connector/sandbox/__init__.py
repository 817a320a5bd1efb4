"""Local, wire-compatible Salesforce and Zoho CRM servers with realistic data and fault injection."""

from connector.sandbox.faults import FaultInjector, FaultSpec, Trigger
from connector.sandbox.server import Sandbox, SandboxApp, SandboxServer, load_fault_file, make_app, running_sandbox

__all__ = [
    "FaultInjector",
    "FaultSpec",
    "Sandbox",
    "SandboxApp",
    "SandboxServer",
    "Trigger",
    "load_fault_file",
    "make_app",
    "running_sandbox",
]
