"""Turning pydantic's validation errors into problems an admin can act on: file, dotted key, plain message, hint.

pydantic's own wording ("Input tag 'salesfroce' found using 'crm' does not match…", "Value error, …",
"Extra inputs are not permitted") is written for programmers. Here every error type an admin can cause
is rephrased, a misspelling gets "did you mean", a value that came from an environment override names
its variable, and a secret's value is never echoed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from connector.errors import ConfigProblem
from connector.secret_refs import SECRET_KEYS

__all__ = ["did_you_mean", "field_names", "from_validation_error", "read_text"]

_NEVER_ECHOED = frozenset({*SECRET_KEYS, "state_url"})  # a state URL may carry a password
_QUOTED = re.compile(r"'([^']*)'")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the closest candidate, or ``""``."""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def field_names(*models: type[BaseModel]) -> set[str]:
    """Every field name of these models and the models nested in them."""
    names: set[str] = set()
    todo = list(models)
    while todo:
        model = todo.pop()
        for name, info in model.model_fields.items():
            names.add(name)
            for arg in _types_in(info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in models:
                    todo.append(arg)
    return names


def _types_in(annotation: Any) -> list[Any]:
    found, todo = [], [annotation]
    while todo:
        item = todo.pop()
        found.append(item)
        todo += list(getattr(item, "__args__", ()) or ())
        todo += list(getattr(item, "__metadata__", ()) or ())
    return found


def read_text(path: Path, what: str) -> tuple[str | None, ConfigProblem | None]:
    """A file an admin wrote, as text; or the one problem that stops us reading it."""
    source = str(path)
    try:
        return path.read_text(encoding="utf-8"), None
    except FileNotFoundError:
        return None, ConfigProblem(source, "", f"{what} not found")
    except IsADirectoryError:
        return None, ConfigProblem(source, "", f"the {what} path is a folder, not a file",
                                   "give the path of the .toml file inside it")
    except UnicodeDecodeError as exc:
        return None, ConfigProblem(source, "", f"the {what} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                                   f"position {exc.start})", "save it as UTF-8")
    except OSError as exc:
        return None, ConfigProblem(source, "", f"cannot read the {what}: {exc.strerror}",
                                   "check the path and its permissions")


def _choices(expected: str) -> list[str]:
    return _QUOTED.findall(expected)


def from_validation_error(exc: ValidationError, source: str, *, known: Iterable[str] = (),
                          env: dict[str, str] | None = None, drop: Iterable[str] = ()) -> list[ConfigProblem]:
    """One `ConfigProblem` per pydantic error.

    `known` are valid key names (for "did you mean" on an unknown key), `env` maps a dotted key to the
    environment variable that set it, and `drop` are location parts pydantic inserts that an admin never
    wrote (a union's tag or branch name).
    """
    env = env or {}
    known = set(known)
    dropped = set(drop)
    problems: list[ConfigProblem] = []
    for err in exc.errors():
        parts = [str(p) for p in err["loc"] if str(p) not in dropped]
        kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
        leaf = parts[-1] if parts else ""
        secret = leaf in _NEVER_ECHOED
        shown = "" if secret or isinstance(value, dict | list) else f" (got {value!r})"
        hint = ""
        if kind == "union_tag_invalid":
            parts.append(str(ctx.get("discriminator", "")).strip("'"))
            choices = _choices(str(ctx.get("expected_tags", "")))
            tag = str(ctx.get("tag", ""))
            message = f"{tag!r} is not one of {', '.join(choices)}{did_you_mean(tag, choices)}"
        elif kind == "union_tag_not_found":
            parts.append(str(ctx.get("discriminator", "")).strip("'"))
            message = "required key is missing"
            hint = 'add crm = "salesforce", crm = "zoho" or crm = "fxiaoke"'
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            message = f"must be a table (a [section] in TOML), not {type(value).__name__}"
        elif kind == "list_type":
            message = f"must be a list, e.g. [\"a\", \"b\"], not {type(value).__name__}"
        elif kind == "literal_error":
            choices = _choices(str(ctx.get("expected", "")))
            message = (f"{value!r} is not one of {', '.join(choices)}"
                       f"{did_you_mean(str(value), choices) if isinstance(value, str) else ''}")
        elif kind == "extra_forbidden":
            message = f"unknown key {leaf!r}{did_you_mean(leaf, known)}"
            hint = "remove this key or check its spelling"
        elif kind == "missing":
            message = "required key is missing"
            hint = "add this key"
        elif kind == "value_error":
            message = str(ctx.get("error", err["msg"]))
        elif kind == "string_too_short" and ctx.get("min_length") == 1:
            message = "must not be empty"
        else:
            message = err["msg"].replace("Input should be", "must be").replace("String should", "must") + shown
        key = ".".join(parts)
        variable = next((name for k, name in env.items() if key == k or key.startswith(k + ".")), None)
        if variable is not None:
            message += f" (the value comes from the environment variable {variable})"
        problems.append(ConfigProblem(source, key, message, hint))
    return problems
