"""Whether this machine can train in ``bf16`` (``care-bridge train --precision bf16``), decided before training.

Mixed bfloat16 training (:func:`care_bridge.models.unet.build_unet`) is fast only where the hardware has bfloat16
arithmetic: x86 CPUs with AVX512_BF16 or AMX-BF16 (oneDNN then runs TensorFlow's bfloat16 convolutions on them;
measured on a Xeon with AMX: 4.6x the float32 steps/s of CARE's 2D network, README "Training speed"), or a GPU.
Elsewhere TensorFlow would emulate it, slower than float32, so the option is refused there with one line.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CareBridgeError

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # as Linux names them in /proc/cpuinfo


def cpu_flags(cpuinfo: str) -> set[str]:
    """The instruction-set flags of the first processor listed in ``cpuinfo`` (the text of ``/proc/cpuinfo``)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The bfloat16 instruction sets the CPU reports (:data:`BF16_CPU_FLAGS`), from ``cpuinfo`` or, by default,
    ``/proc/cpuinfo`` (empty where there is none, e.g. not Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    flags = cpu_flags(cpuinfo)
    return [f for f in BF16_CPU_FLAGS if f in flags]


def check_training_precision(precision: str, *, cpuinfo: str | None = None, gpus: int | None = None) -> str:
    """``precision`` if this machine trains in it: ``fp32`` always, ``bf16`` with a GPU (``gpus``: how many
    TensorFlow sees; counted here if None) or a CPU reporting a bfloat16 instruction set; a one-line
    :class:`CareBridgeError` naming the fix otherwise."""
    if precision not in ("fp32", "bf16"):
        raise CareBridgeError(f"training precision {precision!r} is unknown; choose fp32 (default) or bf16")
    if precision == "fp32" or cpu_bf16_flags(cpuinfo):
        return precision
    if gpus is None:
        gpus = _gpu_count()
    if gpus:
        return precision
    raise CareBridgeError("training precision bf16 needs a CPU with bf16 instructions (AVX512_BF16 or AMX; this one "
                          "reports neither, so TensorFlow would emulate bf16, slower than fp32) or a GPU; train in fp32 "
                          "(the default)")


def _gpu_count() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))
