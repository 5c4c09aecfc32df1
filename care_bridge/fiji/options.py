"""ImageJ macro option strings (``key=value key=[value with spaces]``), the way ``run("…", "…")`` passes them.

Pure Python: no JVM needed. The macros build these strings; the hosted bridge parses them into a mapping, whose
values the front-end contract (:func:`care_bridge.frontend.restore_options`) then parses like any front end's.
"""

from __future__ import annotations

import re

from ..errors import CareBridgeError

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.-]*)(?:=(\[[^\]]*\]|\S*))?")


def parse_options(text: str | None) -> dict[str, str]:
    """Parse ``"bundle=[/a b/m.zip] n_tiles=auto plane"`` into ``{"bundle": "/a b/m.zip", "n_tiles": "auto",
    "plane": ""}``. Keys are lower-cased; a bare word is a flag with an empty value."""
    out: dict[str, str] = {}
    s = (text or "").strip()
    pos = 0
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise CareBridgeError(
                f"cannot read macro options at {s[pos:pos + 30]!r}; write key=value or key=[value with spaces]"
            )
        value = m.group(2) or ""
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        out[m.group(1).lower()] = value
        pos = m.end()
    return out


def format_options(**values: object) -> str:
    """The inverse of :func:`parse_options`: every value in brackets (safe for spaces)."""
    parts = []
    for k, v in values.items():
        if v is None:
            continue
        v = str(v)
        if "]" in v:
            raise CareBridgeError(f"option {k} contains ']' which ImageJ macro options cannot carry; rename it")
        parts.append(f"{k}=[{v}]")
    return " ".join(parts)
