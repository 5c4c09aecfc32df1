"""How much memory this process may use: the machine's available memory, within a cgroup's limit if any.

Used to refuse work that cannot fit *before* allocating it (image files declaring enormous sizes, restorations
whose outputs would not fit), with a one-line error instead of the kernel's OOM killer.
"""

from __future__ import annotations

import os
from pathlib import Path


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 memory limit (containers, batch schedulers), or None without a limit."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping or being killed (best estimate), or None if the
    system does not say."""
    vals = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(vals) if vals else None


def format_bytes(n: float) -> str:
    """``1536 MiB`` → ``'1.5 GiB'``: binary units, one decimal."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"
