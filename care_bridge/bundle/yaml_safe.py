"""Reading a bundle's ``rdf.yaml`` as untrusted input: bounded in bytes and nesting, no aliases, no tags.

``yaml.safe_load`` builds no Python objects, but a few kilobytes of nested aliases ("billion laughs") expand to
gigabytes, and deep nesting ends in a RecursionError. bioimage.io descriptions need neither, so this loader
refuses aliases outright and nesting deeper than :data:`MAX_DEPTH` *while parsing*, before anything is built.
It also reads YAML 1.2 floats (``1e-06`` is a float; PyYAML's 1.1 rules read it as a string).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import BundleError

MAX_BYTES = 4 << 20  # real rdf.yaml files are a few kB
MAX_DEPTH = 64


class _BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting during composition."""

    _depth = 0

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.events.AliasEvent):
            raise BundleError("rdf.yaml uses YAML aliases (*name), which bioimage.io descriptions do not need; "
                              "refusing it (alias expansion can exhaust memory)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise BundleError(f"rdf.yaml nests deeper than {MAX_DEPTH} levels; refusing it as malformed")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_BoundedSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_untrusted_yaml(text: str | bytes, *, what: str = "rdf.yaml") -> Any:
    """Parse ``text`` (at most :data:`MAX_BYTES`) with the bounded safe loader; every failure is a one-line
    :class:`BundleError`."""
    if len(text) > MAX_BYTES:
        raise BundleError(f"{what} is {len(text)} bytes; descriptions over {MAX_BYTES >> 20} MiB are refused")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(f"{what} is not UTF-8 text; the bundle is corrupt") from None
    try:
        return yaml.load(text, Loader=_BoundedSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise BundleError(f"{what} is not valid YAML ({e.__class__.__name__}); the bundle is corrupt") from None
    except RecursionError:
        raise BundleError(f"{what} nests too deeply; refusing it as malformed") from None
