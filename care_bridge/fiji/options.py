"""ImageJ macro option strings (``key=value key=[value with spaces]``), the way ``run("…", "…")`` passes them.

Pure Python: no JVM needed. The macros build these strings; the hosted bridge parses them.
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


def parse_n_tiles(text: str | None) -> tuple[int, ...] | None:
    """``"auto"``/empty → None (the runtime chooses); ``"4"`` → (4,) spread by the runtime; ``"1,4,4"`` → tuple."""
    t = (text or "").strip().lower()
    if t in ("", "auto", "none"):
        return None
    try:
        vals = tuple(int(v) for v in re.split(r"[,x\s]+", t) if v)
    except ValueError:
        raise CareBridgeError(
            f"n_tiles={text!r} is not understood; give auto, one number (4) or one per axis (2,4,4)"
        ) from None
    if not vals or any(v < 1 for v in vals):
        raise CareBridgeError(f"n_tiles={text!r} must be positive whole numbers, e.g. 4 or 2,4,4")
    return vals


def n_tiles_for_runtime(vals: tuple[int, ...] | None) -> int | tuple[int, ...] | None:
    """A single number is passed as an int (the runtime spreads it over Y and X, like the CLI)."""
    if vals is not None and len(vals) == 1:
        return vals[0]
    return vals
