"""TEST DOUBLE of ``knime.extension`` — KNIME's pure-Python node API. NOT KNIME; never shipped.

It implements the documented surface that ``care_bridge_nodes.py`` uses, with the behaviour described in KNIME's
public API documentation (knime.extension, KNIME AP 5.x) and written independently:

- decorators ``node``, ``input_table``, ``output_table``, ``category``; ``NodeType``;
- parameter descriptors ``IntParameter``, ``DoubleParameter``, ``BoolParameter``, ``StringParameter`` (``enum``),
  ``ColumnParameter`` and ``parameter_group``, with validation on assignment like KNIME's;
- ``ConfigurationContext`` / ``ExecutionContext`` (flow variables, warnings, progress, cancellation, workflow
  data area, temp dir);
- ``Table.from_pandas`` / ``to_pandas`` with KNIME's strictness: a column must hold one type (mixed ``object``
  columns fail as they do in the Arrow conversion), row ids come from a string index or are generated;
- ``Schema``, ``Column`` and the type factories ``string()``, ``double()``, ``int64()``, ``bool_()``.

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


def _ktype_of(series: pd.Series) -> KnimeType:
    """The KNIME type Arrow would give a pandas column; mixed Python objects are an error, as in KNIME."""
    if pd.api.types.is_bool_dtype(series):
        return bool_()
    if pd.api.types.is_integer_dtype(series):
        return int64()
    if pd.api.types.is_float_dtype(series):
        return double()
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        kinds = {type(v) for v in series if v is not None and not (isinstance(v, float) and v != v)}
        if kinds <= {str}:
            return string()
        if kinds <= {bool}:
            return bool_()
        if kinds <= {int}:
            return int64()
        if kinds <= {float, int}:
            return double()
        raise TypeError(f"column {series.name!r} mixes types {sorted(k.__name__ for k in kinds)}; "
                        "KNIME's Arrow conversion cannot store it")
    raise TypeError(f"column {series.name!r} has dtype {series.dtype}, which this double does not model")


class Table:
    """A KNIME table: data plus schema, converted from and to pandas."""

    def __init__(self, df: pd.DataFrame, schema: Schema):
        self._df, self._schema = df, schema

    @classmethod
    def from_pandas(cls, data: pd.DataFrame, sentinel: Any = None, row_ids: str = "auto") -> Table:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"from_pandas expects a pandas.DataFrame, got {type(data)}")
        if row_ids not in ("auto", "keep", "generate"):
            raise ValueError(f"row_ids must be 'auto', 'keep' or 'generate', not {row_ids!r}")
        if not all(isinstance(c, str) for c in data.columns):
            raise TypeError("KNIME column names must be strings")
        if len(set(data.columns)) != len(data.columns):
            raise RuntimeError("Duplicate column names detected")
        df = data.copy()
        string_index = len(df) > 0 and all(isinstance(i, str) for i in df.index)
        if row_ids == "generate" or (row_ids == "auto" and not string_index):
            df.index = [f"Row{i}" for i in range(len(df))]
        elif row_ids == "keep" and not string_index and len(df) > 0:
            raise TypeError("row_ids='keep' needs a string index")
        if df.index.has_duplicates:
            raise ValueError("Row IDs must be unique")
        schema = Schema([_ktype_of(df[c]) for c in df.columns], list(df.columns))
        return cls(df, schema)

    def to_pandas(self, sentinel: Any = None) -> pd.DataFrame:
        return self._df.copy()

    @property
    def schema(self) -> Schema:
        return self._schema

    @property
    def column_names(self) -> list[str]:
        return self._schema.column_names

    @property
    def num_rows(self) -> int:
        return len(self._df)

    @property
    def num_columns(self) -> int:
        return self._schema.num_columns


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
