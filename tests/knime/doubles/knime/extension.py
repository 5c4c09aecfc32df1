"""TEST DOUBLE of ``knime.extension`` — KNIME's pure-Python node API. NOT KNIME; never shipped.

It implements the documented surface that ``care_bridge_nodes.py`` uses, with the behaviour described in KNIME's
public API documentation (knime.extension, KNIME AP 5.x) and written independently:

- decorators ``node``, ``input_table``, ``output_table``, ``category``; ``NodeType``;
- parameter descriptors ``IntParameter``, ``DoubleParameter``, ``BoolParameter``, ``StringParameter`` (``enum``),
  ``ColumnParameter`` and ``parameter_group``, with validation on assignment like KNIME's;
- ``ConfigurationContext`` / ``ExecutionContext`` (flow variables, warnings, progress, cancellation, workflow
  data area, temp dir);
- ``Table.from_pandas`` / ``from_pyarrow`` / ``to_pandas`` / ``to_pyarrow`` backed by an Arrow table with the
  ``<RowID>`` column first, converting as KNIME's Arrow backend does (knime/knime-python,
  ``org.knime.python3.arrow/src/main/python/knime/_arrow/_table.py`` and ``_pandas.py``): mixed ``object``
  columns fail, an object column without any value becomes Arrow ``null``, i.e. a "void" column, and RowIDs
  follow KNIME's ``auto`` / ``keep`` / ``generate`` rules;
- ``Schema``, ``Column`` and the type factories ``string()``, ``double()``, ``int64()``, ``bool_()`` (and
  ``void()``, the type KNIME gives an Arrow ``null`` column).

Test-only extras (not KNIME API) start with ``double_``: the node registry and helpers to set parameters the
way KNIME injects saved settings. Anything not listed here is deliberately missing, so code that relies on more
of the API fails in the tests rather than silently passing.
"""

from __future__ import annotations

import enum
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

# --------------------------------------------------------------------------------------------- types / schema


@dataclass(frozen=True)
class KnimeType:
    """A column type; only primitive types are modelled."""

    id: str

    def __str__(self) -> str:
        return self.id


def string() -> KnimeType:
    return KnimeType("string")


def double() -> KnimeType:
    return KnimeType("double")


def int64() -> KnimeType:
    return KnimeType("int64")


def int32() -> KnimeType:
    return KnimeType("int32")


def bool_() -> KnimeType:
    return KnimeType("bool")


@dataclass(frozen=True)
class Column:
    ktype: KnimeType
    name: str
    metadata: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.ktype, KnimeType):
            raise TypeError(f"Column type must be a KNIME type, not {type(self.ktype)}")
        if not isinstance(self.name, str):
            raise TypeError("Column name must be a str")


class Schema:
    """Names and types of a table's columns (the spec a node's ``configure`` sees and returns)."""

    def __init__(self, ktypes: Sequence[KnimeType], names: Sequence[str], metadata: Sequence | None = None):
        if len(ktypes) != len(names):
            raise ValueError(f"Number of types must match number of names, but {len(ktypes)} != {len(names)}")
        metadata = list(metadata) if metadata is not None else [None] * len(names)
        self._columns = [Column(t, n, m) for t, n, m in zip(ktypes, names, metadata)]

    @classmethod
    def from_columns(cls, columns: Sequence[Column] | Column) -> Schema:
        cols = [columns] if isinstance(columns, Column) else list(columns)
        for c in cols:
            if not isinstance(c, Column):
                raise TypeError(f"Can only instantiate a schema from columns, not {type(c)}")
        return cls([c.ktype for c in cols], [c.name for c in cols], [c.metadata for c in cols])

    @classmethod
    def from_types(cls, ktypes: Sequence[KnimeType], names: Sequence[str], metadata: Sequence | None = None):
        return cls(ktypes, names, metadata)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self._columns]

    @property
    def num_columns(self) -> int:
        return len(self._columns)

    def __iter__(self):
        yield from self._columns

    def __getitem__(self, key: int | str | list) -> Column | Schema:
        if isinstance(key, int):
            return self._columns[key]
        if isinstance(key, str):
            for c in self._columns:
                if c.name == key:
                    return c
            raise IndexError(f"Schema has no column named '{key}'")
        if isinstance(key, list):
            return Schema.from_columns([self[k] for k in key])
        raise TypeError(f"Schema can only be indexed by int, str or list, not {type(key)}")

    def append(self, other: Column | Sequence[Column] | Schema) -> Schema:
        """A new schema with ``other`` added at the end (KNIME returns a lazy view; the node framework
        materializes it, so returning the schema is equivalent)."""
        extra = [other] if isinstance(other, Column) else list(other)
        return Schema.from_columns([*self._columns, *extra])

    def serialize(self) -> dict:
        """What KNIME does with a returned spec: duplicate names are an error."""
        names = self.column_names
        if len(names) != len(set(names)):
            raise RuntimeError("Duplicate column names detected, please make sure all columns have unique names")
        return {"names": names, "types": [c.ktype.id for c in self._columns]}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and [(c.ktype, c.name) for c in self] == [(c.ktype, c.name) for c in other]

    def __repr__(self) -> str:
        return "Schema<" + ", ".join(f"{c.name}: {c.ktype}" for c in self._columns) + ">"


ROW_ID = "<RowID>"


def void() -> KnimeType:
    """The type KNIME gives an Arrow column of type ``null`` (DataSpec.voidSpec(): a column without any type)."""
    return KnimeType("void")


def _ktype_of_arrow(t: pa.DataType) -> KnimeType:
    """The KNIME type of an Arrow column type (knime/knime-python, ``knime/_arrow/_table.py`` and
    ``_backend.py``: ``pa.null()`` becomes the void type)."""
    if pa.types.is_null(t):
        return void()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return string()
    if pa.types.is_boolean(t):
        return bool_()
    if pa.types.is_int64(t):
        return int64()
    if pa.types.is_int32(t):
        return int32()
    if pa.types.is_float64(t):
        return double()
    raise TypeError(f"Arrow type {t} is not modelled by this double")


def _pandas_row_ids(df: pd.DataFrame, row_ids: str) -> pa.Array:
    """KNIME's RowIDs from a DataFrame index (``knime/_arrow/_pandas.py``: ``_create_row_ids_for_auto_keep``):
    ``auto``: an integer index ``n`` becomes ``Row{n}``, any other index its ``str``; ``keep``: always ``str``."""
    if len(df) == 0:
        return pa.array([], pa.string())
    idx = df.index.to_series()
    if row_ids == "auto" and idx.dtype.kind in "iu":
        return pa.array([f"Row{i}" for i in idx], pa.string())
    return pa.array([str(i) for i in idx], pa.string())


class Table:
    """A KNIME table: an Arrow table whose first column is ``<RowID>`` (strings), as in KNIME's ``ArrowTable``.

    ``from_pandas`` converts like KNIME (``pyarrow.Table.from_pandas`` after KNIME's RowID handling): a column
    that mixes Python types fails, and an object column without any value becomes Arrow ``null``, which KNIME
    shows as a "void" column. ``from_pyarrow`` keeps the types it is given.
    """

    def __init__(self, table: pa.Table):
        names = table.schema.names
        if not names or names[0] != ROW_ID or not pa.types.is_string(table.schema.field(0).type):
            raise ValueError("the first column of a KNIME table must be the string column <RowID>")
        if ROW_ID in names[1:]:
            raise RuntimeError("The column name '<RowID>' is reserved for internal purposes")
        if len(set(names)) != len(names):
            raise RuntimeError("Duplicate column names detected")
        ids = table.column(0)
        if ids.null_count or len(set(ids.to_pylist())) != len(ids):
            raise ValueError("Row IDs must be unique and not missing")
        self._table = table

    @classmethod
    def from_pandas(cls, data: pd.DataFrame, sentinel: Any = None, row_ids: str = "auto") -> Table:
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"Table.from_pandas expects a pandas.DataFrame, but got {type(data)}")
        if row_ids not in ("auto", "keep", "generate"):
            raise ValueError('row_ids must be one of ["auto", "keep", "generate"]')
        df = data.copy()
        df.columns = [str(c) for c in df.columns]
        body = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)  # raises on mixed types
        if row_ids == "generate":
            ids = pa.array([f"Row{i}" for i in range(len(df))], pa.string())
        else:
            ids = _pandas_row_ids(df, row_ids)
        return cls(body.add_column(0, pa.field(ROW_ID, pa.string()), ids))

    @classmethod
    def from_pyarrow(cls, data: pa.Table, sentinel: Any = None, row_ids: str = "auto") -> Table:
        """``auto``: a first column ``<RowID>`` of strings is kept (of integers: ``Row{n}``), else new RowIDs are
        generated; ``keep``: the first column is the RowID; ``generate``: new RowIDs (``knime/_arrow/_table.py``:
        ``_create_table_from_pyarrow``)."""
        if not isinstance(data, pa.Table):
            raise TypeError(f"from_pyarrow expects a pyarrow.Table, got {type(data)}")
        first = data.schema.field(0) if data.num_columns else None
        generate = pa.array([f"Row{i}" for i in range(data.num_rows)], pa.string())
        if row_ids == "auto":
            if first is not None and first.name == ROW_ID and pa.types.is_string(first.type):
                return cls(data)
            if first is not None and first.name == ROW_ID and pa.types.is_integer(first.type):
                ids = pa.array([f"Row{n}" for n in data.column(0).to_pylist()], pa.string())
                return cls(data.set_column(0, pa.field(ROW_ID, pa.string()), ids))
            return cls(data.add_column(0, pa.field(ROW_ID, pa.string()), generate))
        if row_ids == "keep":
            return cls(data)
        if row_ids == "generate":
            return cls(data.add_column(0, pa.field(ROW_ID, pa.string()), generate))
        raise ValueError('row_ids must be one of ["auto", "generate", "keep"]')

    def to_pandas(self, sentinel: Any = None) -> pd.DataFrame:
        df = self._table.drop_columns([ROW_ID]).to_pandas()
        df.index = pd.Index(self._table.column(0).to_pylist(), dtype=object)
        return df

    def to_pyarrow(self, sentinel: Any = None) -> pa.Table:
        """The Arrow table, ``<RowID>`` first (as KNIME's ``ArrowTable.to_pyarrow``)."""
        return self._table

    @property
    def schema(self) -> Schema:
        fields = list(self._table.schema)[1:]
        return Schema([_ktype_of_arrow(f.type) for f in fields], [f.name for f in fields])

    @property
    def column_names(self) -> list[str]:
        return self._table.schema.names[1:]

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    @property
    def num_columns(self) -> int:
        return self._table.num_columns - 1


# --------------------------------------------------------------------------------------------- parameters


def _no_check(_value: Any) -> None:
    pass


class _BaseParameter:
    """A node setting declared as a class attribute; values live in the instance's ``__parameters__``."""

    __kind__ = "parameter"

    def __init__(self, label: str | None, description: str | None, default_value: Any,
                 validator: Callable[[Any], None] | None = None, since_version: str | None = None,
                 is_advanced: bool = False):
        self._label, self._default_value = label, default_value
        self.__doc__ = description or ""
        self._validator = validator or _no_check
        self._since_version, self._is_advanced = since_version, is_advanced

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        if self._label is None:
            self._label = name

    def _store(self, obj: Any) -> dict:
        if "__parameters__" not in obj.__dict__:
            obj.__dict__["__parameters__"] = {}
        return obj.__dict__["__parameters__"]

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        store = self._store(obj)
        return store.setdefault(self._name, self._default_value)

    def __set__(self, obj: Any, value: Any) -> None:
        self._check(value)
        self._store(obj)[self._name] = value

    def _check(self, value: Any) -> None:
        self._validator(value)

    def validator(self, func: Callable[[Any], None]) -> None:
        self._validator = func


class _NumericParameter(_BaseParameter):
    _types: tuple[type, ...] = (int, float)

    def __init__(self, label=None, description=None, default_value=0, validator=None, min_value=None,
                 max_value=None, since_version=None, is_advanced=False):
        self.min_value, self.max_value = min_value, max_value
        super().__init__(label, description, default_value, validator, since_version, is_advanced)

    def _check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, self._types):
            raise TypeError(f"{value} is of type {type(value)}, but should be {self._types[0].__name__}")
        if self.min_value is not None and value < self.min_value:
            raise ValueError(f"{value} is smaller than the minimal value {self.min_value}")
        if self.max_value is not None and value > self.max_value:
            raise ValueError(f"{value} is > the max value {self.max_value}")
        super()._check(value)


class IntParameter(_NumericParameter):
    _types = (int,)


class DoubleParameter(_NumericParameter):
    _types = (float, int)


class BoolParameter(_BaseParameter):
    def __init__(self, label=None, description=None, default_value=False, validator=None, since_version=None,
                 is_advanced=False):
        super().__init__(label, description, default_value, validator, since_version, is_advanced)

    def _check(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"{value} is not a boolean")
        super()._check(value)


class StringParameter(_BaseParameter):
    def __init__(self, label=None, description=None, default_value="", enum=None, validator=None,
                 since_version=None, is_advanced=False, choices=None):
        if enum is not None and not isinstance(enum, list):
            raise TypeError("The enum parameter must be a list.")
        if enum and choices:
            raise ValueError("Cannot specify both enum and choices")
        self._enum, self._choices = enum, choices
        super().__init__(label, description, default_value, validator, since_version, is_advanced)

    def _check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{value} is of type {type(value)}, but should be of type string.")
        super()._check(value)


class ColumnParameter(_BaseParameter):
    """A column of input port ``port_index``; ``None`` until the user (or the node) picks one."""

    def __init__(self, label=None, description=None, port_index=0, column_filter=None, include_row_key=False,
                 include_none_column=False, since_version=None, is_advanced=False):
        self._port_index = port_index
        self._column_filter = column_filter or (lambda c: True)
        self._include_row_key, self._include_none_column = include_row_key, include_none_column
        super().__init__(label, description, None, None, since_version, is_advanced)

    def _check(self, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"a column name must be a str, not {type(value)}")


class _GroupView:
    """What ``node.<group>`` returns: attribute access to the group's parameters, stored in the node."""

    def __init__(self, group: Any, store: dict):
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "_values", store)

    def _param(self, name: str) -> _BaseParameter:
        p = type(self._group).__dict__.get(name) or getattr(type(self._group), name, None)
        if not isinstance(p, _BaseParameter):
            raise AttributeError(f"parameter group has no parameter {name!r}")
        return p

    def __getattr__(self, name: str) -> Any:
        p = self._param(name)
        return self._values.setdefault(name, p._default_value)

    def __setattr__(self, name: str, value: Any) -> None:
        p = self._param(name)
        p._check(value)
        self._values[name] = value


def parameter_group(label: str, since_version: str | None = None, is_advanced: bool = False):
    """Class decorator: the class's parameters form one group (a section of the dialog)."""

    def decorate(cls: type) -> type:
        cls.__kind__ = "parameter_group"
        cls._label = label

        def __set_name__(self, owner, name):
            self._name = name

        def __get__(self, obj, objtype=None):
            if obj is None:
                return self
            if "__parameters__" not in obj.__dict__:
                obj.__dict__["__parameters__"] = {}
            return _GroupView(self, obj.__dict__["__parameters__"].setdefault(self._name, {}))

        def __set__(self, obj, value):
            raise RuntimeError("Cannot set parameter group values directly.")

        cls.__set_name__, cls.__get__, cls.__set__ = __set_name__, __get__, __set__
        return cls

    return decorate


def double_parameters(owner: type | Any) -> dict[str, Any]:
    """TEST-ONLY: the parameter descriptors (and groups) a node class declares, by attribute name."""
    cls = owner if isinstance(owner, type) else type(owner)
    out = {}
    for klass in reversed(cls.__mro__):
        for name, val in vars(klass).items():
            if getattr(val, "__kind__", None) in ("parameter", "parameter_group"):
                out[name] = val
    return out


def double_inject(node: Any, values: dict[str, Any]) -> None:
    """TEST-ONLY: set saved settings on a node as KNIME does (validated; groups as nested dicts)."""
    params = double_parameters(node)
    for name, value in values.items():
        if name not in params:
            raise KeyError(f"node {type(node).__name__} has no parameter {name!r}")
        if params[name].__kind__ == "parameter_group":
            view = getattr(node, name)
            for k, v in value.items():
                setattr(view, k, v)
        else:
            setattr(node, name, value)


# --------------------------------------------------------------------------------------------- nodes


class NodeType(enum.Enum):
    SOURCE = "Source"
    SINK = "Sink"
    LEARNER = "Learner"
    PREDICTOR = "Predictor"
    MANIPULATOR = "Manipulator"
    VISUALIZER = "Visualizer"
    OTHER = "Other"


class InvalidParametersError(Exception):
    """Raised by ``configure`` when the settings do not fit; KNIME shows the message on the node."""


@dataclass
class Port:
    type: str
    name: str
    description: str


@dataclass
class double_NodeRecord:  # noqa: N801 - test-only registry entry
    factory: Callable[[], Any]
    cls: type
    name: str
    node_type: NodeType
    icon_path: str
    category: str
    input_ports: list[Port] = field(default_factory=list)
    output_ports: list[Port] = field(default_factory=list)


double_nodes: dict[str, double_NodeRecord] = {}
double_categories: list[dict[str, Any]] = []


def category(path: str, level_id: str, name: str, description: str, icon: str, after: str = "",
             locked: bool = True) -> str:
    double_categories.append(dict(path=path, level_id=level_id, name=name, description=description, icon=icon))
    return path + level_id if path.endswith("/") else f"{path}/{level_id}"


def _add_port(cls: type, slot: str, port: Port) -> type:
    if slot not in cls.__dict__:
        setattr(cls, slot, [])
    getattr(cls, slot).insert(0, port)  # decorators apply bottom-up: insert keeps the written order
    return cls


def input_table(name: str, description: str):
    return lambda cls: _add_port(cls, "input_ports", Port("Table", name, description))


def output_table(name: str, description: str):
    return lambda cls: _add_port(cls, "output_ports", Port("Table", name, description))


def node(name: str, node_type: NodeType, icon_path: str, category: str, after: str | None = None,
         id: str | None = None, is_deprecated: bool = False):  # noqa: A002 - KNIME's argument name
    """Register a node class; like KNIME, return a factory that builds instances with their ports set."""

    def register(cls: type):
        if not isinstance(node_type, NodeType):
            raise TypeError("node_type must be a knext.NodeType")
        for method in ("configure", "execute"):
            if not callable(getattr(cls, method, None)):
                raise TypeError(f"node {name!r} lacks a {method}() method")
        if not (cls.__doc__ or "").strip():
            raise ValueError(f"node {name!r} has no docstring; KNIME builds the node description from it")
        rec = double_NodeRecord(None, cls, name, node_type, icon_path, category,
                                list(cls.__dict__.get("input_ports", [])), list(cls.__dict__.get("output_ports", [])))

        def factory(*args, **kwargs):
            inst = cls(*args, **kwargs)
            inst.input_ports, inst.output_ports = rec.input_ports, rec.output_ports
            return inst

        rec.factory = factory
        double_nodes[id or cls.__name__] = rec
        return factory

    return register


class ConfigurationContext:
    """What ``configure`` gets: flow variables and a way to set a warning on the node."""

    def __init__(self, flow_variables: dict[str, Any] | None = None):
        self._flow_variables = dict(flow_variables or {})
        self.double_warnings: list[str] = []

    @property
    def flow_variables(self) -> dict[str, Any]:
        return self._flow_variables

    def set_warning(self, message: str) -> None:
        self.double_warnings.append(str(message))


class ExecutionContext(ConfigurationContext):
    """What ``execute`` gets: progress, cancellation, the workflow's temp dir and data area."""

    def __init__(self, flow_variables: dict[str, Any] | None = None, *, workflow_dir: str | None = None,
                 cancel_after: int | None = None):
        super().__init__(flow_variables)
        self._workflow_dir = workflow_dir or tempfile.mkdtemp(prefix="knime_double_workflow_")
        self._cancel_after = cancel_after  # is_canceled() turns True after this many calls
        self._cancel_checks = 0
        self.double_progress: list[tuple[float, str | None]] = []

    def set_progress(self, progress: float, message: str | None = None) -> None:
        if isinstance(progress, int):
            progress = float(progress)
        if not isinstance(progress, float):
            raise TypeError(f"progress must be of type float. Got {type(progress)}.")
        if progress < -0.0001 or progress > 1.0001:
            raise ValueError("progress must be between 0.0 and 1.0.")
        if message is not None and not isinstance(message, str):
            raise TypeError("message must be a str or None.")
        self.double_progress.append((progress, message))

    def is_canceled(self) -> bool:
        self._cancel_checks += 1
        return self._cancel_after is not None and self._cancel_checks > self._cancel_after

    def get_workflow_temp_dir(self) -> str:
        return tempfile.gettempdir()

    def get_workflow_data_area_dir(self) -> str:
        return f"{self._workflow_dir}/data"
