"""riskbridge's sync side: CRM connectors, the sync engine, its state store and the CLI."""

__all__: list[str] = []
__version__ = "0.1.0"
