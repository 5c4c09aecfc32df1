"""TEST DOUBLE of ``knime.scripting.io`` — the API of KNIME's stock Python Script node. NOT KNIME; never shipped.

In KNIME the node fills ``input_tables``/``flow_variables`` before the script runs and reads
``output_tables``/``flow_variables`` afterwards; a script must assign every output port. ``double_reset`` plays
KNIME's part in tests. ``Table`` is the same class the ``knime.extension`` double uses (as in KNIME, where both
re-export ``knime.api.table.Table``).
"""

from __future__ import annotations

from typing import Any

from ..extension import Table  # noqa: F401 - re-exported like KNIME's knio.Table

input_tables: list[Table] = []
input_objects: list[Any] = []
output_tables: list[Table | None] = [None]
output_objects: list[Any] = []
output_images: list[Any] = []
flow_variables: dict[str, Any] = {}


class _FixedList(list):
    """A list of fixed length: KNIME's output lists have one slot per configured output port."""

    def append(self, _item: Any) -> None:
        raise IndexError("the Python Script node has a fixed number of output ports; assign output_tables[i]")

    extend = insert = append  # type: ignore[assignment]


def double_reset(inputs: list[Table] | None = None, *, n_outputs: int = 1,
                 variables: dict[str, Any] | None = None) -> None:
    """TEST-ONLY: set up the module as KNIME would before running a script."""
    global input_tables, output_tables, flow_variables
    input_tables = list(inputs or [])
    output_tables = _FixedList([None] * n_outputs)
    flow_variables = dict(variables or {})


def double_outputs() -> list[Table]:
    """TEST-ONLY: the output tables after a script ran; KNIME fails the node if one was not assigned."""
    for i, t in enumerate(output_tables):
        if not isinstance(t, Table):
            raise RuntimeError(f"output table {i} was not set (got {type(t).__name__})")
    return list(output_tables)
