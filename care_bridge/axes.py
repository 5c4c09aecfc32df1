"""Axes strings: every array that crosses an API comes with one.

Letters (upper case): ``S`` sample/batch, ``T`` time, ``C`` channel, ``Z``, ``Y``, ``X`` space.
Examples: ``"YX"``, ``"ZYX"``, ``"CYX"``, ``"TZCYX"``. This module is the one place where axes are checked
and arrays are moved between layouts.
"""

from __future__ import annotations

import numpy as np

from .errors import CareBridgeError

ALLOWED = "STCZYX"


def check_axes(axes: str, ndim: int | None = None, *, allowed: str = ALLOWED) -> str:
    """Return ``axes`` upper-cased after checking letters, duplicates and (optionally) the array's ndim."""
    if not isinstance(axes, str) or not axes:
        raise CareBridgeError("axes must be a non-empty string such as 'YX', 'ZYX' or 'CYX'")
    ax = axes.upper()
    bad = sorted(set(ax) - set(allowed))
    if bad:
        raise CareBridgeError(
            f"axes {axes!r} contain unknown letter(s) {''.join(bad)}; use only {allowed!r} (e.g. 'ZYX')"
        )
    dup = sorted({a for a in ax if ax.count(a) > 1})
    if dup:
        raise CareBridgeError(f"axes {axes!r} name axis {''.join(dup)} twice; give each axis once")
    if ndim is not None and len(ax) != ndim:
        raise CareBridgeError(
            f"axes {axes!r} have {len(ax)} letters but the image has {ndim} dimensions; "
            f"give one letter per dimension (e.g. {_example(ndim)!r})"
        )
    return ax


def _example(ndim: int) -> str:
    return {2: "YX", 3: "ZYX", 4: "CZYX", 5: "TCZYX"}.get(ndim, "YX")


def spatial(axes: str) -> str:
    """The spatial letters of ``axes`` in canonical order (subset of ``"ZYX"``)."""
    return "".join(a for a in "ZYX" if a in axes.upper())


def move_axes(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Transpose ``x`` from axes ``src`` to ``dst``; letters missing from ``src`` become size-1 axes,
    letters missing from ``dst`` must have size 1 and are dropped. Returns a view where possible."""
    src = check_axes(src, x.ndim)
    dst = check_axes(dst)
    for a in src:
        if a not in dst:
            if x.shape[src.index(a)] != 1:
                raise CareBridgeError(
                    f"axis {a} of size {x.shape[src.index(a)]} cannot be dropped to reach axes {dst!r}"
                )
    x = x.squeeze(axis=tuple(i for i, a in enumerate(src) if a not in dst)) if any(
        a not in dst for a in src
    ) else x
    src = "".join(a for a in src if a in dst)
    for a in dst:
        if a not in src:
            x = x[..., np.newaxis]
            src += a
    return np.transpose(x, [src.index(a) for a in dst])
