"""A TorchScript file is a program: check it before and after loading, before anything of it runs.

A TorchScript archive holds TorchScript source (``<name>/code/``) that ``torch.jit.load`` compiles, and tensors and
TorchScript objects that it unpickles with TorchScript's own unpickler (C++; it builds tensors and TorchScript
objects only, never Python objects). Compiled code can still call operators that are not arithmetic: read a file
into a tensor (``torch.from_file``: measured, it works from a scripted ``forward``), print (``prim::Print``), start
threads (``prim::fork``), or talk to other processes (RPC and distributed operators). So:

* **before loading** the archive is read as data (:func:`check_archive`): a zip within size limits, TorchScript's
  layout (``data.pkl`` and ``code/``), and no ``__setstate__`` in its code — ``torch.jit.load`` runs a module's
  ``__setstate__`` while loading (measured: a ``print`` in it runs), before any check could see it;
* **after loading** on the CPU, before the first call (:func:`check_module`): every method of every submodule,
  with its calls inlined and every nested block walked, may hold only the nodes of :data:`NUMERIC_OPS` (pure
  tensor arithmetic) and :data:`STRUCTURE_OPS` (constants, attribute reads, lists and tuples, control flow,
  raising an error). Calls that inlining leaves (methods of TorchScript classes), attribute writes (a model whose
  state changes from call to call would make tiles differ) and everything else are refused by name.

Imports PyTorch (the ``torch`` extra) only when called.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import BundleError

MAX_ARCHIVE_BYTES = 4 << 30  # uncompressed, all entries together
MAX_ENTRIES = 100_000
MAX_CODE_BYTES = 64 << 20  # TorchScript source of a network is kilobytes to a few MB

# aten operators (without the "aten::" prefix) that compute on tensors and numbers only (and format error texts)
NUMERIC_OPS = frozenset("""
Bool Float Int IntImplicit FloatImplicit ScalarImplicit format str __and__ __contains__ __derive_index __getitem__ __is__
__isnot__ __not__ __or__ __range_length __xor__ _convolution _pad_circular _pad_enum _set_item _shape_as_tensor
_upsample_bicubic2d_aa _upsample_bilinear2d_aa _upsample_lanczos2d_aa _upsample_nearest_exact1d
_upsample_nearest_exact2d _upsample_nearest_exact3d abs adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d add add_ addcdiv addcmul addmm alpha_dropout amax amin
append arange argmax argmin atan2 avg_pool1d avg_pool2d avg_pool3d baddbmm batch_norm bmm cat ceil celu
channel_shuffle chunk clamp clamp_ clamp_max clamp_min clip clone constant_pad_nd contiguous conv1d conv2d conv3d
conv_transpose1d conv_transpose2d conv_transpose3d convolution copy_ cos cosh cumsum detach dim div div_ dropout
einsum elu elu_ eq erf exp expand expand_as expm1 feature_alpha_dropout feature_dropout fill_ flatten flip floor
floor_divide floordiv fmod frac full full_like gather ge gelu glu group_norm gt hardsigmoid hardswish hardtanh
hardtanh_ index index_select instance_norm is_floating_point item layer_norm le leaky_relu leaky_relu_ len lerp
linear list log log10 log1p log2 log_sigmoid log_softmax logsumexp lt masked_fill matmul max max_pool1d max_pool2d
max_pool2d_with_indices max_pool3d maximum mean min minimum mish mm mul mul_ narrow native_layer_norm ne neg
new_full new_ones new_zeros norm numel ones ones_like pad permute pixel_shuffle pixel_unshuffle pow prelu reciprocal
reflection_pad1d reflection_pad2d reflection_pad3d relu relu6 relu_ remainder repeat repeat_interleave
replication_pad1d replication_pad2d replication_pad3d reshape round rrelu rsqrt rsub scaled_dot_product_attention
select selu sigmoid sigmoid_ sign silu sin sinh size slice softmax softplus softsign split split_with_sizes sqrt
square squeeze stack std std_mean sub sub_ sum t tanh tanh_ tensor_split threshold to transpose true_divide trunc
type_as unbind unflatten unsqueeze upsample_bicubic2d upsample_bilinear2d upsample_linear1d upsample_nearest1d
upsample_nearest2d upsample_nearest3d upsample_trilinear3d var var_mean view view_as warn where zero_ zeros
zeros_like
""".split())
# TorchScript's structural nodes: values, containers, control flow and errors (no calls, no attribute writes)
STRUCTURE_OPS = frozenset("""
prim::Constant prim::GetAttr prim::ListConstruct prim::ListUnpack prim::TupleConstruct prim::TupleUnpack
prim::TupleIndex prim::TupleSlice prim::DictConstruct prim::If prim::Loop prim::RaiseException prim::Uninitialized
prim::unchecked_cast prim::NumToTensor prim::device prim::dtype prim::layout prim::min prim::max prim::abs
prim::isinstance prim::is_cuda prim::data prim::shape prim::EnumValue prim::EnumName prim::Return
""".split())


def check_archive(path: str | Path) -> None:
    """Refuse, before loading, a file that is not a plain TorchScript archive or whose code defines
    ``__setstate__`` (which ``torch.jit.load`` would run); see the module docstring."""
    p = Path(path)
    where = p.name
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise BundleError(f"{where} is not a TorchScript archive ({e}); the bundle is corrupt") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_ARCHIVE_BYTES:
            raise BundleError(f"{where}: the TorchScript archive holds {len(infos)} entries of "
                              f"{sum(i.file_size for i in infos)} bytes; over the limits, refused")
        names = [i.filename for i in infos]
        if not any(n.endswith("/data.pkl") for n in names) or not any("/code/" in n for n in names):
            raise BundleError(f"{where} is not a TorchScript archive (no data.pkl and code/); torchscript weights "
                              "are written by torch.jit.save")
        code = [i for i in infos if "/code/" in i.filename and not i.filename.endswith(".debug_pkl")]
        if sum(i.file_size for i in code) > MAX_CODE_BYTES:
            raise BundleError(f"{where}: the TorchScript code is over {MAX_CODE_BYTES} bytes; refused")
        for i in code:
            if b"__setstate__" in zf.read(i):
                raise BundleError(f"{where}: the TorchScript code defines __setstate__, which torch.jit.load would run "
                                  "while loading; refused (a model file must only compute)")


def _nodes(block):
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _nodes(sub)


def check_module(module, where: str) -> None:
    """Refuse a loaded TorchScript module unless every method of every submodule (calls inlined) holds only
    numeric and structural nodes (:data:`NUMERIC_OPS`, :data:`STRUCTURE_OPS`)."""
    import torch

    for name, sub in module.named_modules():
        for method in sub._c._method_names():
            graph = getattr(sub, method).graph.copy()
            torch._C._jit_pass_inline(graph)
            for node in _nodes(graph):
                kind = node.kind()
                ok = kind in STRUCTURE_OPS or (kind.startswith("aten::") and kind[6:] in NUMERIC_OPS)
                if not ok:
                    at = f"{name}.{method}" if name else method
                    raise BundleError(f"{where}: the TorchScript model runs {kind!r} (in {at}), which is not a pure "
                                      "numeric operation: refused, a model file must not touch files, the network, "
                                      "processes or its own state; use the bundle's ONNX weights")


def load_torchscript(path: str | Path):
    """The checked TorchScript module of ``path``, loaded on the CPU (:func:`check_archive` before loading,
    :func:`check_module` after); a one-line :class:`BundleError` otherwise."""
    import torch

    p = Path(path)
    check_archive(p)
    try:
        module = torch.jit.load(str(p), map_location="cpu")
    except Exception as e:  # torch raises RuntimeError and friends for damaged archives
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise BundleError(f"TorchScript weights {p.name} cannot be loaded ({first}); the bundle is corrupt") from None
    check_module(module, p.name)
    return module.eval()
