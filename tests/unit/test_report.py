"""What Rich and --json show of text from the CRM: literal, escaped, never a control sequence."""

from __future__ import annotations

import json

from rich.console import Console

from connector.cli import to_json
from connector.report import safe


def render(markup: str) -> str:
    console = Console(width=200, force_terminal=False, emoji=False)
    with console.capture() as capture:
        console.print(markup, highlight=False)
    return capture.get()


def test_markup_is_shown_literally() -> None:
    for value in ("Evil [/oops] Corp", "[link=http://x]click[/link]", "[bold]x[/bold]", "[/]", "\\[b] x"):
        assert render(safe(value)).rstrip("\n") == value
    # Rich doubles a trailing backslash so it cannot escape the markup that follows: shown, never eaten.
    assert render("[bold]" + safe("trailing \\") + "[/]").startswith("trailing \\")


def test_control_and_bidi_characters_are_made_visible() -> None:
    text = render(safe("a\x1b[2Jb\u202ec\x00d\x9be\tf"))
    assert "\x1b" not in text and "\u202e" not in text and "\x00" not in text and "\x9b" not in text
    assert "\\u001b" in text and "\\u202e" in text and text.rstrip().endswith("f")  # a tab is expanded


def test_long_values_are_cut() -> None:
    assert len(safe("x" * 1000)) == 200 and safe("x" * 1000).endswith("…")


def test_json_round_trips_and_escapes_what_json_leaves_raw() -> None:
    value = {"name": "\u202eevil\x9b 株式会社 \x1b[31m"}
    line = to_json(value)
    assert "\u202e" not in line and "\x9b" not in line and "株式会社" in line
    assert json.loads(line) == value
