"""Which ``pytorch_state_dict`` architectures care_bridge builds, and their checked kwargs (pure Python).

A ``pytorch_state_dict`` entry names its architecture as Python: a file in the bundle (``source``) or a module and
a callable (``import_from`` + ``callable``; spec 0.4: ``architecture: "package.module.Name"``, which
:mod:`.rdf_parse` turns into the 0.5 form). Importing either runs code the bundle chose, so neither is ever
imported: the name is a *key* into :data:`ARCHITECTURES`, an allow-list of networks that care_bridge re-implements
(:mod:`care_bridge.runtime.torch_architectures` builds them), and the rdf's ``kwargs`` are checked here against
the known names, types and ranges. An architecture given as a file is always refused; an unknown name is refused
naming the list. This half lives in the bundle layer (a description check) so that ``inspect`` can say whether
the weights run without importing the runtime; the builders are keyed by the same names (a test keeps the two
in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import BundleError


@dataclass(frozen=True)
class Architecture:
    """A checked architecture: its allow-list key (``module.callable``) and its validated kwargs."""

    key: str
    kwargs: tuple[tuple[str, Any], ...]

    def kw(self) -> dict[str, Any]:
        return dict(self.kwargs)


# ---- kwargs checking (pure Python) ------------------------------------------------------------------------------

def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and lo <= v <= hi


def _is_bool(v: Any) -> bool:
    return type(v) is bool


UNET_ACTIVATIONS = ("None", "Sigmoid", "Softmax", "Tanh", "ReLU", "LeakyReLU", "ELU")
# name → (default in CAREamics' UNet.__init__, check, what the check says); conv_dims has no default there
UNET_KWARGS: dict[str, tuple[Any, Callable[[Any], bool], str]] = {
    "conv_dims": (None, lambda v: v in (2, 3) and type(v) is int, "2 or 3"),
    "num_classes": (1, _int_in(1, 256), "an int in 1..256"),
    "in_channels": (1, _int_in(1, 256), "an int in 1..256"),
    "depth": (3, _int_in(1, 10), "an int in 1..10"),
    "num_channels_init": (64, _int_in(1, 1024), "an int in 1..1024"),
    "use_batch_norm": (True, _is_bool, "true or false"),
    "dropout": (0.0, lambda v: type(v) in (int, float) and 0 <= v < 1, "a number in [0, 1)"),
    # the decoder always upsamples by 2: another pooling size cannot run in CAREamics either
    "pool_kernel": (2, lambda v: v == 2 and type(v) is int, "2 (the decoder upsamples by 2)"),
    "residual": (False, _is_bool, "true or false"),
    "final_activation": ("None", lambda v: v in UNET_ACTIVATIONS, f"one of {', '.join(UNET_ACTIVATIONS)}"),
    "n2v2": (False, _is_bool, "true or false"),
    "independent_channels": (True, _is_bool, "true or false"),
}


def _check_unet(kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    key = "careamics.models.unet.UNet"
    bad = sorted(k for k in kwargs if k not in UNET_KWARGS and k != "architecture")
    if bad:
        raise BundleError(f"{where}: architecture {key} gets unknown kwargs {', '.join(map(str, bad))[:120]}; "
                          f"it takes {', '.join(UNET_KWARGS)} (fix the rdf's kwargs)")
    if "architecture" in kwargs and kwargs["architecture"] != "UNet":  # CAREamics' model_dump() carries its name
        raise BundleError(f"{where}: architecture {key} has kwargs architecture={str(kwargs['architecture'])[:40]!r}; "
                          "it must be 'UNet' (fix the rdf's kwargs)")
    out = {}
    for name, (default, ok, what) in UNET_KWARGS.items():
        if name not in kwargs and default is None:
            raise BundleError(f"{where}: architecture {key} needs kwarg {name} ({what}); add it to the rdf's kwargs")
        v = kwargs.get(name, default)
        if not ok(v):
            raise BundleError(f"{where}: architecture {key} has kwarg {name}={repr(v)[:40]}; it must be {what} "
                              "(fix the rdf's kwargs)")
        out[name] = v
    groups = out["in_channels"] if out["independent_channels"] else 1
    if out["num_classes"] % groups:
        raise BundleError(f"{where}: architecture {key} with independent_channels needs num_classes "
                          f"({out['num_classes']}) divisible by in_channels ({out['in_channels']}); fix the kwargs")
    if out["residual"] and out["num_classes"] != out["in_channels"] and 1 not in (out["num_classes"],
                                                                                  out["in_channels"]):
        raise BundleError(f"{where}: architecture {key} with residual needs num_classes == in_channels (got "
                          f"{out['num_classes']} and {out['in_channels']}); fix the kwargs")
    return out


# allow-list key (import_from + "." + callable) → kwargs checker; the builder is in _BUILDERS
ARCHITECTURES: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "careamics.models.unet.UNet": _check_unet,
}


def resolve_architecture(entry: Any, where: str = "pytorch_state_dict") -> Architecture:
    """The checked architecture of a ``pytorch_state_dict`` weights entry (the rdf's mapping, spec 0.5 form, as
    :mod:`care_bridge.bundle.rdf_parse` gives it for 0.4 too); a one-line :class:`BundleError` naming the allow-list
    otherwise. Imports nothing the entry names."""
    arch = entry.get("architecture") if isinstance(entry, dict) else None
    known = ", ".join(ARCHITECTURES)
    if not isinstance(arch, dict):
        raise BundleError(f"{where}: the pytorch_state_dict weights name no architecture; care_bridge builds only "
                          f"{known}")
    if arch.get("source") is not None:
        raise BundleError(f"{where}: the pytorch_state_dict architecture is Python code in a file "
                          f"({str(arch.get('source'))[:60]}), which care_bridge never runs; it builds only {known} "
                          "(use the bundle's onnx or torchscript weights)")
    mod, fn = arch.get("import_from"), arch.get("callable")
    key = f"{mod}.{fn}"
    if not isinstance(mod, str) or not isinstance(fn, str) or key not in ARCHITECTURES:
        raise BundleError(f"{where}: the pytorch_state_dict architecture {key[:80]!r} is not one care_bridge builds "
                          f"(it never imports the module a bundle names); known: {known} (use the bundle's onnx or "
                          "torchscript weights)")
    kwargs = arch.get("kwargs") or {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise BundleError(f"{where}: the architecture's kwargs must be a mapping of names; fix the rdf")
    checked = ARCHITECTURES[key](kwargs, where)
    return Architecture(key, tuple(checked.items()))


def architecture_known(entry: Any) -> bool:
    """Whether :func:`resolve_architecture` accepts ``entry``."""
    try:
        resolve_architecture(entry)
    except BundleError:
        return False
    return True
