"""Free text a person typed into the CRM, made safe to copy into another field: markup and controls removed.

An override reason is copied into the account's reasons field, which sales reps read in the CRM, list
views, exports and riskbridge's own terminal output. So HTML tags (and the entities that would turn
into tags), Rich console markup (``[bold]``, ``[link=…]``, ``[/]``), terminal escape sequences and control or
bidirectional-format characters are removed, and whitespace runs become one space. The words stay.
"""

from __future__ import annotations

import html
import re
import unicodedata

from rich.errors import StyleSyntaxError
from rich.style import Style

__all__ = ["plain_text"]

_HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]*>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")  # CSI, OSC, 2-byte
_RICH_TAG = re.compile(r"\[([a-z#/@][^\[\]]*)\]")  # what Rich reads as a tag: [bold], [/], [link=…], [@click]


def _rich_tag(match: re.Match[str]) -> str:
    """Drop a tag Rich would act on; keep bracketed words it would print (`[per CFO]`)."""
    content = match.group(1)
    if content.startswith(("/", "@", "link")):
        return ""
    try:
        Style.parse(content)
    except StyleSyntaxError:
        return match.group(0)
    return ""


def _visible(ch: str) -> bool:
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") or ch in "\t\n"


def plain_text(text: str) -> str:
    """`text` without HTML, Rich markup or control characters, whitespace collapsed."""
    out = text
    for _ in range(3):  # entities can hide a tag (&lt;b&gt;): unescape, strip, until nothing changes
        stripped = _RICH_TAG.sub(_rich_tag, _HTML_TAG.sub("", _HTML_COMMENT.sub("", out)))
        unescaped = html.unescape(stripped)
        if unescaped == out:
            break
        out = unescaped
    out = _ANSI.sub("", _RICH_TAG.sub(_rich_tag, _HTML_TAG.sub("", out)))
    out = "".join(ch if _visible(ch) else " " for ch in out)
    return " ".join(out.split())
