"""An ONNX model is a program too: check it as data before an engine loads it.

The ONNX file is read as protobuf wire format by the small reader below (nothing is executed, and the runtime
needs no ``onnx`` package). Refused, with a one-line :class:`BundleError`:

* operators outside the standard domains (:data:`ALLOWED_DOMAINS`): a custom domain names code that an engine
  would have to load from a shared library; model-local functions are allowed, and their bodies are checked the
  same way;
* tensors stored as *external data* (``data_location = EXTERNAL`` or ``external_data`` entries): ONNX Runtime
  would read whatever path the model names — any file the user can read — into the network's weights;
* files over :data:`MAX_MODEL_BYTES`, subgraphs nested deeper than :data:`MAX_DEPTH`, and malformed protobuf
  (truncated varints, lengths beyond the end, deprecated group fields).

The standard ONNX operator set (domain ``""`` / ``ai.onnx``) and ``ai.onnx.ml`` hold pure tensor operations:
no file, network or process access. Field numbers are those of ``onnx.proto`` (ModelProto.graph = 7,
.functions = 25, .training_info = 20; GraphProto.node = 1, .initializer = 5, .sparse_initializer = 15;
NodeProto.op_type = 4, .domain = 7, .attribute = 5; AttributeProto.t = 5, .g = 6, .tensors = 10, .graphs = 11,
.sparse_tensor = 22, .sparse_tensors = 23; TensorProto.name = 8, .external_data = 13, .data_location = 14;
SparseTensorProto.values = 1, .indices = 2; FunctionProto.node = 7, .domain = 10; TrainingInfoProto
.initialization = 1, .algorithm = 2).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BundleError

MAX_MODEL_BYTES = 2 << 30  # protobuf's own limit for one message
MAX_DEPTH = 32  # graphs inside node attributes (If/Loop/Scan bodies) inside graphs ...
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class _Malformed(Exception):
    pass


def _varint(buf: memoryview, i: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= end or shift > 63:
            raise _Malformed("truncated or overlong varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: memoryview, start: int, end: int):
    """Yield ``(field number, wire type, value)`` of one protobuf message in ``buf[start:end]``; the value of a
    length-delimited field is its ``(start, end)``, of the others the integer (fixed-width ones are skipped)."""
    i = start
    while i < end:
        key, i = _varint(buf, i, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire == 0:
            value, i = _varint(buf, i, end)
        elif wire == 1:
            value, i = None, i + 8
        elif wire == 2:
            n, i = _varint(buf, i, end)
            value, i = (i, i + n), i + n
        elif wire == 5:
            value, i = None, i + 4
        else:
            raise _Malformed(f"wire type {wire}")
        if i > end:
            raise _Malformed("a field runs past the end of its message")
        yield number, wire, value


def _text(buf: memoryview, span) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


class _Checker:
    def __init__(self, buf: memoryview, where: str):
        self.buf, self.where = buf, where
        self.local_domains: set[str] = set()

    def _sub(self, wire: int, value, kind: str):
        if wire != 2:
            raise _Malformed(f"{kind} is not a message")
        return value

    def model(self) -> None:
        buf = self.buf
        graphs, functions, training = [], [], []
        for number, wire, value in fields(buf, 0, len(buf)):
            if number == 7:
                graphs.append(self._sub(wire, value, "graph"))
            elif number == 25:
                functions.append(self._sub(wire, value, "function"))
            elif number == 20:
                training.append(self._sub(wire, value, "training info"))
        for span in functions:  # model-local functions: nodes of their domain call them
            for number, wire, value in fields(buf, *span):
                if number == 10 and wire == 2:
                    self.local_domains.add(_text(buf, value))
        for span in functions:
            for number, wire, value in fields(buf, *span):
                if number == 7:
                    self.node(self._sub(wire, value, "node"), 1)
        for span in graphs:
            self.graph(span, 1)
        for span in training:
            for number, wire, value in fields(buf, *span):
                if number in (1, 2):
                    self.graph(self._sub(wire, value, "graph"), 1)

    def graph(self, span, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _Malformed(f"subgraphs nested deeper than {MAX_DEPTH}")
        for number, wire, value in fields(self.buf, *span):
            if number == 1:
                self.node(self._sub(wire, value, "node"), depth)
            elif number == 5:
                self.tensor(self._sub(wire, value, "initializer"))
            elif number == 15:
                self.sparse(self._sub(wire, value, "sparse initializer"))

    def node(self, span, depth: int) -> None:
        op, domain, attributes = "", "", []
        for number, wire, value in fields(self.buf, *span):
            if number == 4 and wire == 2:
                op = _text(self.buf, value)
            elif number == 7 and wire == 2:
                domain = _text(self.buf, value)
            elif number == 5:
                attributes.append(self._sub(wire, value, "attribute"))
        if domain not in ALLOWED_DOMAINS and domain not in self.local_domains:
            raise BundleError(f"{self.where}: operator {op!r} of the custom domain {domain!r} would run code from "
                              "outside the model; refusing (only standard ONNX operators are executed)")
        for a in attributes:
            for number, wire, value in fields(self.buf, *a):
                if number in (5, 10):
                    self.tensor(self._sub(wire, value, "tensor"))
                elif number in (22, 23):
                    self.sparse(self._sub(wire, value, "sparse tensor"))
                elif number in (6, 11):
                    self.graph(self._sub(wire, value, "graph"), depth + 1)

    def tensor(self, span) -> None:
        name, external = "", False
        for number, wire, value in fields(self.buf, *span):
            if number == 8 and wire == 2:
                name = _text(self.buf, value)
            elif number == 13:
                external = True
            elif number == 14 and wire == 0 and value == _EXTERNAL:
                external = True
        if external:
            raise BundleError(f"{self.where}: tensor {name!r} is stored as external data, which would make the engine "
                              "read a file the model names; refusing (bundle weights must be self-contained)")

    def sparse(self, span) -> None:
        for number, wire, value in fields(self.buf, *span):
            if number in (1, 2):
                self.tensor(self._sub(wire, value, "tensor"))


def check_onnx_model(path: str | Path) -> None:
    """Refuse an ONNX file that is not plain, self-contained standard ONNX (see the module docstring)."""
    p = Path(path)
    where = p.name
    try:
        size = p.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise BundleError(f"{where}: {size} bytes is over the {MAX_MODEL_BYTES} bytes an ONNX model may have")
        data = p.read_bytes()
    except OSError as e:
        raise BundleError(f"{where} cannot be read ({e.strerror or e}); the bundle is incomplete") from e
    try:
        _Checker(memoryview(data), where).model()
    except _Malformed as e:
        raise BundleError(f"{where} is not a valid ONNX model ({e}); the bundle is corrupt") from None
