"""A CRM-neutral picture of an org's schema: objects, their fields, and what the integration user may do.

The Salesforce and Zoho readers (`connector.crm.sf_admin`, `connector.crm.zoho_admin`) translate describe
and `settings/fields` answers into these types; `check`, `provision` and `suggest` read only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["FieldKind", "FieldMeta", "ObjectMeta", "OrgAdmin", "OrgMeta"]

# The kinds riskbridge cares about; every CRM type maps to one of them.
FieldKind = Literal["text", "textarea", "picklist", "multipicklist", "number", "currency", "percent", "integer",
                    "boolean", "date", "datetime", "reference", "id", "other"]
NUMERIC: frozenset[str] = frozenset({"number", "currency", "percent", "integer"})
TEXTUAL: frozenset[str] = frozenset({"text", "textarea"})


@dataclass(frozen=True)
class FieldMeta:
    """One field as the CRM describes it to the integration user."""

    name: str
    label: str
    kind: FieldKind
    crm_type: str  # the CRM's own type name ("double", "Currency", "picklist"), for messages
    length: int = 0  # characters, for text
    precision: int = 0  # digits in all, for numbers
    scale: int = 0  # digits after the point
    picklist: tuple[str, ...] = ()
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    custom: bool = False


@dataclass
class ObjectMeta:
    """One object (sObject or module). `exists` is False when the CRM denies knowing it."""

    name: str
    exists: bool = True
    label: str = ""
    fields: dict[str, FieldMeta] = field(default_factory=dict)

    def field(self, name: str) -> FieldMeta | None:
        """A field by its API name, case-insensitively (both CRMs treat API names so)."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)


@dataclass
class OrgMeta:
    """What one metadata read learned: objects, who we are, the API allowance, the watchlist tag."""

    objects: dict[str, ObjectMeta] = field(default_factory=dict)
    user_id: str | None = None
    user_name: str | None = None
    profile: str | None = None
    api_used: int | None = None
    api_limit: int | None = None
    credits_remaining: int | None = None  # Zoho: only sent once half the day's credits are spent
    tags: dict[str, set[str]] = field(default_factory=dict)  # object -> tag/topic names defined
    permission_sets: dict[str, str] = field(default_factory=dict)  # name -> id (Salesforce)
    scope_warnings: dict[str, str] = field(default_factory=dict)  # OAuth scope not granted -> what fails without it

    def object(self, name: str) -> ObjectMeta:
        found = self.objects.get(name) or next(
            (o for n, o in self.objects.items() if n.lower() == name.lower()), None)
        return found if found is not None else ObjectMeta(name, exists=False)


class OrgAdmin(Protocol):
    """Reads an org's metadata and creates riskbridge's fields in it. Never prints."""

    crm: str

    @property
    def api_calls(self) -> int: ...

    def read(self, objects: list[str], *, tags: tuple[str, ...] = ()) -> OrgMeta:
        """Authenticate and describe these objects; also look up the watchlist tags/topics named.
        Raises `ConnectionFailed`/`AuthError` when the CRM cannot be used."""
        ...

    def create_field(self, object_name: str, spec: FieldSpecLike) -> str:
        """Create one custom field; returns its API name."""
        ...

    def create_tag(self, object_name: str, tag: str) -> None: ...

    def grant(self, reads: list[tuple[str, str]], edits: list[tuple[str, str]]) -> int:
        """Give the integration user read on `reads` and edit on `edits` ((object, field) pairs) where
        the CRM manages that per field (a Salesforce permission set); returns the write calls made."""
        ...

    def close(self) -> None: ...


class FieldSpecLike(Protocol):
    """What a creator needs to know about a field to create (a `needs.FieldNeed` satisfies it)."""

    @property
    def field(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> FieldKind: ...
    @property
    def length(self) -> int: ...
    @property
    def precision(self) -> int: ...
    @property
    def scale(self) -> int: ...
    @property
    def picklist(self) -> tuple[str, ...]: ...
    @property
    def help(self) -> str: ...
    @property
    def external_id(self) -> bool: ...
    @property
    def unique(self) -> bool: ...
