"""Reading a bundle's ``rdf.yaml`` as untrusted input: bounded in bytes, nesting and expanded size; no tags.

``yaml.safe_load`` builds no Python objects, but a few kilobytes of nested aliases ("billion laughs") describe a
document of billions of nodes, which anything that walks the description (validation, JSON output) expands, and
deep nesting ends in a RecursionError. Aliases themselves are legitimate (PyYAML writes them for shared
objects), so this loader composes the node graph, counts its *expanded* size and depth with memoization (cheap:
linear in the distinct nodes) and refuses more than :data:`MAX_NODES` nodes or :data:`MAX_DEPTH` levels before
anything is constructed. It also reads YAML 1.2 floats (``1e-06`` is a float; PyYAML's 1.1 rules read it as a
string).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import BundleError

MAX_BYTES = 4 << 20  # real rdf.yaml files are a few kB
MAX_DEPTH = 64
MAX_NODES = 1_000_000  # expanded: a real rdf.yaml has a few thousand


class _BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that bounds nesting while composing and the expanded document before constructing it."""

    _depth = 0

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise BundleError(f"rdf.yaml nests deeper than {MAX_DEPTH} levels; refusing it as malformed")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self):  # noqa: D102 - PyYAML hook
        node = self.get_single_node()
        if node is None:
            return None
        size, depth = _expanded(node, {})
        if size > MAX_NODES:
            raise BundleError(f"rdf.yaml expands to {size} nodes through its aliases (limit {MAX_NODES}); refusing "
                              "it (an alias bomb)")
        if depth > MAX_DEPTH:
            raise BundleError(f"rdf.yaml nests deeper than {MAX_DEPTH} levels through its aliases; refusing it")
        return self.construct_document(node)


def _expanded(node, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(number of nodes, depth) of ``node`` with every alias expanded, memoized per node: no expansion happens."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = (MAX_NODES + 1, MAX_DEPTH + 1)  # a cycle (recursive alias) counts as too large
    size, depth = 1, 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        s, d = _expanded(child, memo)
        size += s
        depth = max(depth, d + 1)
        if size > MAX_NODES:
            break
    memo[key] = (size, depth)
    return size, depth


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
