"""Read ``pytorch_state_dict`` weights (a ``torch.save`` zip archive) as data: names → numpy arrays, nothing run.

``torch.save(model.state_dict(), f)`` writes a zip with one top-level folder ``<name>/`` holding ``data.pkl`` (a
pickle of the mapping), one entry ``data/<key>`` per storage (raw bytes), ``byteorder`` (``little``), ``version`` and
a few markers (``.format_version``, ``.storage_alignment``, ``.data/serialization_id``). Unpickling runs whatever
callable the pickle names: ``pickle.load`` is code execution, and ``torch.load(weights_only=True)`` is a second,
C-level allow-list of the same machine that has had escapes. So the pickle is never unpickled here:
:func:`pickletools.genops` only *disassembles* it (it decodes opcodes and their arguments, executes nothing), and
:func:`read_state_dict` interprets the small opcode subset a state-dict pickle uses (measured on torch 2.13's
output, protocol 2, and on protocol 4/5 pickles with ``FRAME``/``MEMOIZE``/``STACK_GLOBAL``):

* containers and atoms: ``EMPTY_DICT``/``MARK``/``SETITEM(S)``, ``EMPTY_TUPLE``/``TUPLE*``, strings, ints (``LONG1``
  at most 255 bytes), ``NONE``/``NEWTRUE``/``NEWFALSE``, the memo (``BINPUT``/``BINGET``/``MEMOIZE``...);
* ``GLOBAL``/``STACK_GLOBAL`` only for :data:`ALLOWED_GLOBALS` — they become inert markers, never imports;
* ``REDUCE`` only of ``collections.OrderedDict()`` (no arguments) and ``torch._utils._rebuild_tensor_v2`` (storage,
  offset, size, stride, requires_grad, empty hooks[, empty metadata]), which becomes a checked tensor view;
* ``BINPERSID`` only as torch's storage reference ``('storage', <dtype>Storage, key, location, numel)``;
* ``BUILD`` only to give an ``OrderedDict`` its ``_metadata`` (module versions, dropped);
* anything else (``os.system``, ``builtins.eval``, ``INST``/``OBJ``/``NEWOBJ``, lists, ...) is a one-line
  :class:`BundleError` before a single byte of tensor data is read.

Every resource is bounded before it is allocated: the archive by the bundle zip rules (:mod:`..bundle.safe_zip`),
``data.pkl`` by :data:`MAX_PICKLE_BYTES`, the stack/memo by the pickle's length, the number of tensors by
:data:`MAX_TENSORS`, dimensions by :data:`MAX_DIMS`; storage bytes (``numel`` × item size) must equal the archive
entry, all storages together stay under ``max_bytes``, and every tensor's last element (offset + Σ (size−1) ×
stride) must lie inside its storage before numpy makes the view. Only little-endian archives are read. The legacy
(non-zip, ``_use_new_zipfile_serialization=False``, before PyTorch 1.6) format is refused: it interleaves pickles
and raw storages without a directory, so sizes cannot be checked before reading.

Pure Python and numpy: PyTorch is not imported (``bfloat16`` storages are widened to float32 here).
"""

from __future__ import annotations

import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..bundle.safe_zip import DEFAULT_LIMITS, ZipLimits, check_archive
from ..errors import BundleError

MAX_PICKLE_BYTES = 64 << 20  # a state dict's pickle is a few hundred bytes per tensor
MAX_TENSORS = 100_000
MAX_DIMS = 8
MAX_BYTES = 4 << 30  # all storages together (a CARE/CAREamics U-Net: a few to a few hundred MB)

# torch's typed storage classes → numpy dtype (little-endian); "bfloat16" is decoded by hand
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}
ALLOWED_GLOBALS = frozenset(
    {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.UntypedStorage",
     "torch.storage.UntypedStorage"} | {f"torch.{s}" for s in STORAGE_DTYPES})
_ITEMSIZE = {"bfloat16": 2}


@dataclass(frozen=True)
class _Global:
    """A name the pickle refers to, kept as a string: nothing is imported."""

    name: str


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: str  # a key of the numpy dtype table above, or "bfloat16"
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * (_ITEMSIZE.get(self.dtype) or np.dtype(self.dtype).itemsize)


@dataclass(frozen=True)
class _TensorView:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _OrderedDict(dict):
    """What ``collections.OrderedDict()`` in the pickle becomes (a dict keeps insertion order)."""


_MARK = object()
_ATOMS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_PUSH_ARG = {"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BININT", "BININT1", "BININT2", "LONG1"}


def _refuse(where: str, what: str) -> BundleError:
    return BundleError(f"{where}: {what}; pytorch_state_dict weights must be torch.save(model.state_dict()) of "
                       "tensors only, refused (nothing of it was run)")


def read_state_dict(path: str | Path, *, max_bytes: int = MAX_BYTES,
                    limits: ZipLimits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save`` state-dict archive, in the archive's order, as numpy arrays (bfloat16 as
    float32); a one-line :class:`BundleError` for anything else (see the module docstring)."""
    p = Path(path)
    where = p.name
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise BundleError(f"{where}: cannot read the pytorch_state_dict weights ({e}); the bundle is incomplete") from e
    if not zipfile.is_zipfile(p):
        if head[:1] == b"\x80":  # a pickle protocol marker: torch.save's legacy (pre-1.6) format
            raise BundleError(f"{where} is in torch.save's legacy format (_use_new_zipfile_serialization=False), "
                              "which care_bridge does not read: re-save it with torch.save's default zip format")
        raise BundleError(f"{where} is not a torch.save archive (not a zip file); the bundle is corrupt")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise BundleError(f"{where} is not a readable torch.save archive ({e}); the bundle is corrupt") from None
    with zf:
        infos = {i.filename: i for i in check_archive(zf, where, limits)}
        pkls = [n for n in infos if len(PurePosixPath(n).parts) == 2 and n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise BundleError(f"{where} is not a torch.save archive (expected one <name>/data.pkl, found "
                              f"{len(pkls)}); pytorch_state_dict weights are written by torch.save")
        prefix = pkls[0][: -len("data.pkl")]
        order = infos.get(prefix + "byteorder")
        if order is not None:
            # torch writes it since 1.11; older archives come from little-endian machines (x86, ARM)
            value = zf.read(order)[:16] if order.file_size <= 16 else b"?"
            if value.strip() != b"little":
                raise BundleError(f"{where}: the archive's byte order is {value.strip()[:16]!r}; care_bridge reads "
                                  "little-endian torch.save archives only (re-save the state dict on an x86 or ARM "
                                  "machine)")
        if infos[pkls[0]].file_size > MAX_PICKLE_BYTES:
            raise BundleError(f"{where}: data.pkl is {infos[pkls[0]].file_size} bytes, over {MAX_PICKLE_BYTES}; "
                              "a state dict's pickle is far smaller, refused")
        views = _interpret(zf.read(pkls[0]), where)
        storages = {v.storage.key: v.storage for v in views.values()}
        total = sum(s.nbytes for s in storages.values())
        if total > max_bytes:
            raise BundleError(f"{where}: the state dict's storages hold {total} bytes, over the limit of "
                              f"{max_bytes}; refused")
        viewed = sum(int(np.prod(v.size, dtype=object)) * (_ITEMSIZE.get(v.storage.dtype) and 4
                                                              or np.dtype(v.storage.dtype).itemsize)
                     for v in views.values())
        if viewed > max_bytes:  # a stride of 0 views one element many times: the copies are bounded too
            raise BundleError(f"{where}: the state dict's tensors hold {viewed} bytes, over the limit of "
                              f"{max_bytes}; refused")
        for s in storages.values():
            info = infos.get(f"{prefix}data/{s.key}")
            if info is None or info.file_size != s.nbytes:
                have = "missing" if info is None else f"{info.file_size} bytes"
                raise BundleError(f"{where}: storage {s.key!r} should hold {s.numel} elements ({s.nbytes} bytes) "
                                  f"but its archive entry is {have}; the weights are corrupt or forged, refused")
        out: dict[str, np.ndarray] = {}
        buffers: dict[str, np.ndarray] = {}
        for name, v in views.items():
            s = v.storage
            if s.key not in buffers:
                buffers[s.key] = _storage_array(zf.read(f"{prefix}data/{s.key}"), s)
            out[name] = _tensor(buffers[s.key], v, name, where)
    return out


def _storage_array(raw: bytes, s: _Storage) -> np.ndarray:
    if s.dtype == "bfloat16":  # the upper half of a float32: widen exactly
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(raw, s.dtype)


def _tensor(storage: np.ndarray, v: _TensorView, name: str, where: str) -> np.ndarray:
    """A copy of the view ``v`` of ``storage``, its extent checked against the storage first."""
    if any(n == 0 for n in v.size):
        return np.zeros(v.size, storage.dtype.newbyteorder("="))
    last = v.offset + sum((n - 1) * st for n, st in zip(v.size, v.stride))
    if last >= storage.size:
        raise BundleError(f"{where}: tensor {name!r} (offset {v.offset}, size {list(v.size)}, stride "
                          f"{list(v.stride)}) reaches element {last} of a storage of {storage.size}; the weights are "
                          "corrupt or forged, refused")
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[v.offset:], shape=v.size, strides=[st * item for st in v.stride],
                                           writeable=False)
    return np.array(view, dtype=storage.dtype.newbyteorder("="), order="C")


def _interpret(data: bytes, where: str) -> dict[str, _TensorView]:
    """Walk the disassembled pickle over the allowed opcodes; the mapping of names to tensor views."""
    stack: list = []
    marks: list[list] = []
    memo: dict[int, object] = {}
    storages: dict[str, _Storage] = {}
    tensors = 0
    result = None

    def pop_mark() -> list:
        nonlocal stack
        if not marks:
            raise _refuse(where, "the pickle is malformed (no MARK)")
        items, stack = stack, marks.pop()
        return items

    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if result is not None:
                raise _refuse(where, "the pickle goes on after STOP")
            if name in ("PROTO", "FRAME"):
                continue
            if name in _PUSH_ARG:
                stack.append(arg)
            elif name in _ATOMS:
                stack.append(_ATOMS[name])
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "MARK":
                marks.append(stack)
                stack = []
            elif name == "TUPLE":
                items = pop_mark()
                stack.append(tuple(items))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise _refuse(where, "the pickle is malformed (stack underflow)")
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name in ("BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise _refuse(where, f"the pickle reads memo entry {arg} it never wrote (malformed)")
                stack.append(memo[arg])
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _set(stack[-1], key, value, where)
            elif name == "SETITEMS":
                items = pop_mark()
                if len(items) % 2:
                    raise _refuse(where, "the pickle is malformed (odd SETITEMS)")
                for k, val in zip(items[::2], items[1::2]):
                    _set(stack[-1], k, val, where)
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = str(arg).partition(" ")
                else:
                    attr, module = stack.pop(), stack.pop()
                    if not (isinstance(module, str) and isinstance(attr, str)):
                        raise _refuse(where, "the pickle's STACK_GLOBAL names no strings")
                full = f"{module}.{attr}"
                if full not in ALLOWED_GLOBALS:
                    raise _refuse(where, f"the pickle names {full[:80]!r}, which a state dict never holds")
                stack.append(_Global(full))
            elif name == "BINPERSID":
                stack.append(_storage(stack.pop(), storages, where))
            elif name == "REDUCE":
                args, fn = stack.pop(), stack.pop()
                stack.append(_reduce(fn, args, where))
                if isinstance(stack[-1], _TensorView):
                    tensors += 1
                    if tensors > MAX_TENSORS:
                        raise _refuse(where, f"the pickle builds over {MAX_TENSORS} tensors")
            elif name == "BUILD":
                state = stack.pop()
                if not (isinstance(stack[-1], _OrderedDict) and isinstance(state, dict)
                        and set(state) <= {"_metadata"}):
                    raise _refuse(where, "the pickle sets the state of an object other than an OrderedDict's "
                                  "_metadata")
            elif name == "STOP":
                if len(stack) != 1 or marks:
                    raise _refuse(where, "the pickle is malformed (stack at STOP)")
                result = stack.pop()
            else:
                raise _refuse(where, f"the pickle uses opcode {name}, which a state dict never holds")
    except (IndexError, KeyError, TypeError):
        raise _refuse(where, "the pickle is malformed (stack underflow)") from None
    except ValueError as e:  # pickletools: truncated or unknown opcodes
        raise _refuse(where, f"data.pkl is not a valid pickle ({str(e)[:100]})") from None
    if not isinstance(result, dict):
        raise _refuse(where, "the pickle holds no mapping (or no STOP)")
    for k, v in result.items():
        if not isinstance(v, _TensorView):
            raise _refuse(where, f"entry {str(k)[:60]!r} is a {type(v).__name__}, not a tensor (a training checkpoint "
                          "rather than model.state_dict()?)")
    return result


def _set(target, key, value, where: str) -> None:
    if not isinstance(target, dict) or not isinstance(key, str):
        raise _refuse(where, "the pickle sets an item of something other than a dict, or a non-string key")
    if isinstance(value, (list, set)) or (isinstance(value, _Global)):
        raise _refuse(where, f"entry {key[:60]!r} holds a {type(value).__name__}")
    target[key] = value


def _storage(pid, storages: dict[str, _Storage], where: str) -> _Storage:
    """torch's persistent id of a storage: ('storage', <dtype>Storage, key, location, numel)."""
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Global)
            and isinstance(pid[2], str) and isinstance(pid[3], str) and type(pid[4]) is int):
        raise _refuse(where, "the pickle references an external object other than a tensor storage")
    kind, key, numel = pid[1].name.rsplit(".", 1)[-1], pid[2], pid[4]
    dtype = "u1" if kind == "UntypedStorage" else STORAGE_DTYPES.get(kind)
    if dtype is None:
        raise _refuse(where, f"storage type {pid[1].name!r} is not a tensor storage")
    if not (key.isdigit() and len(key) <= 12) or not 0 <= numel <= MAX_BYTES:
        raise _refuse(where, f"storage {key[:20]!r} has a malformed key or {numel} elements")
    s = _Storage(key, dtype, numel)
    if storages.setdefault(key, s) != s:
        raise _refuse(where, f"storage {key!r} is declared twice with different types or sizes")
    return s


def _ints(v, n: int | None = None) -> bool:
    return (isinstance(v, tuple) and (n is None or len(v) == n) and len(v) <= MAX_DIMS
            and all(type(i) is int and 0 <= i < 1 << 48 for i in v))


def _reduce(fn, args, where: str):
    if not isinstance(fn, _Global) or not isinstance(args, tuple):
        raise _refuse(where, "the pickle calls something that is not an allowed name")
    if fn.name == "collections.OrderedDict":
        if args:
            raise _refuse(where, "the pickle calls OrderedDict with arguments")
        return _OrderedDict()
    if fn.name == "torch._utils._rebuild_tensor_v2":
        if len(args) not in (6, 7):
            raise _refuse(where, f"_rebuild_tensor_v2 gets {len(args)} arguments, not 6 or 7")
        storage, offset, size, stride, requires_grad, hooks = args[:6]
        meta = args[6] if len(args) == 7 else None
        if not (isinstance(storage, _Storage) and type(offset) is int and 0 <= offset and _ints(size)
                and _ints(stride, len(size)) and isinstance(requires_grad, bool)
                and isinstance(hooks, dict) and not hooks and (meta is None or (isinstance(meta, dict) and not meta))):
            raise _refuse(where, "a tensor is rebuilt from arguments other than (storage, offset, size, stride, "
                          "requires_grad, no hooks)")
        return _TensorView(storage, offset, size, stride)
    raise _refuse(where, f"the pickle calls {fn.name!r}, which only names a type")
