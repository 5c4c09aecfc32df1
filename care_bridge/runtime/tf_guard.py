"""A TensorFlow SavedModel is a program: check its graph before TensorFlow loads it.

``saved_model.pb`` is parsed as data (protobuf; nothing is executed) and every op that TensorFlow 2 can run when
loading the model and calling it must be on an allow-list of pure numeric tensor ops
(:data:`NUMERIC_OPS`). What can run: the functions the object graph references (endpoints such as ``serve``,
signature wrappers, the save/restore functions of saveable objects) and every function they call, plus the
main graph's nodes. File, network, process, sleep and print ops (``WriteFile``, ``ReadFile``, ``MatchingFiles``,
``PrintV2``, ``PyFunc``, ...) are refused. The TF1-style checkpoint functions that only the main graph's saver
nodes reference (``__inference__traced_save`` / ``_restore``, which TensorFlow 2's loader never runs) may also
hold the standard checkpoint ops (:data:`CHECKPOINT_OPS`), and nothing else.

Measured on care_bridge's own exports (Keras 3 ``ExportArchive``): the reachable functions use 20 numeric op
types; the two saver functions add ``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints`` and string helpers.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BundleError

MAX_GRAPH_BYTES = 512 << 20  # a CARE network's graph is a few MB; its weights are in variables/

NUMERIC_OPS = frozenset("""
Abs Add AddN AddV2 ArgMax ArgMin AvgPool AvgPool3D BatchMatMul BatchMatMulV2 BatchMatMulV3 BiasAdd BroadcastArgs
BroadcastTo Cast Ceil CheckNumerics ClipByValue Concat ConcatV2 Const Conv2D Conv2DBackpropInput Conv3D
Conv3DBackpropInputV2 Cos DepthToSpace DepthwiseConv2dNative Div DivNoNan Einsum Elu Equal Erf Exp ExpandDims Expm1
Fill Floor FloorDiv FloorMod FusedBatchNorm FusedBatchNormV3 GatherV2 Greater GreaterEqual Identity IdentityN
IsFinite LeakyRelu Less LessEqual Log Log1p LogSoftmax LogicalAnd LogicalNot LogicalOr MatMul Max MaxPool MaxPool3D
MaxPoolV2 Maximum Mean Min Minimum MirrorPad Mul Neg NoOp NotEqual OnesLike Pack Pad PadV2 PartitionedCall
Placeholder PlaceholderWithDefault Pow Prod Range Rank ReadVariableOp RealDiv Reciprocal Relu Relu6 Reshape
ResizeBicubic ResizeBilinear ResizeNearestNeighbor Round Rsqrt Select SelectV2 Selu Shape ShapeN Sigmoid Sign Sin
Size Slice Softmax Softplus Softsign SpaceToDepth Split SplitV Sqrt Square SquaredDifference Squeeze
StatefulPartitionedCall StopGradient StridedSlice Sub Sum Tanh Tile Transpose Unpack ZerosLike
AssignVariableOp VarHandleOp VarIsInitializedOp DisableCopyOnRead
""".split())
CHECKPOINT_OPS = frozenset("""
SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename StringJoin StaticRegexFullMatch
""".split())


def _called(fn) -> set[str]:
    """Names of the functions a FunctionDef's nodes call (``f`` attributes and lists of functions)."""
    out = set()
    for node in fn.node_def:
        for attr in node.attr.values():
            if attr.HasField("func"):
                out.add(attr.func.name)
            out |= {f.name for f in attr.list.func}
    return out


def check_saved_model(folder: str | Path) -> None:
    """Raise :class:`BundleError` (one line naming the op and where it is) unless every op TensorFlow may run
    from the SavedModel in ``folder`` is a pure numeric op. Imports TensorFlow's protobuf definitions only."""
    pb = Path(folder) / "saved_model.pb"
    if not pb.is_file():
        raise BundleError(f"{folder} has no saved_model.pb; the TF weights are not a SavedModel")
    size = pb.stat().st_size
    if size > MAX_GRAPH_BYTES:
        raise BundleError(f"saved_model.pb is {size} bytes (limit {MAX_GRAPH_BYTES}); refused as a possible bomb")
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    try:
        sm.ParseFromString(pb.read_bytes())
    except Exception as e:  # protobuf's DecodeError and friends
        raise BundleError(f"saved_model.pb cannot be parsed ({type(e).__name__}); the TF weights are corrupt") from None
    if not sm.meta_graphs:
        raise BundleError("saved_model.pb holds no graph; the TF weights are corrupt")
    for mg in sm.meta_graphs:
        lib = {f.signature.name: f for f in mg.graph_def.library.function}
        roots: set[str] = set()
        for node in mg.object_graph_def.nodes:
            kind = node.WhichOneof("kind")
            if kind == "function":
                roots |= set(node.function.concrete_functions)
            elif kind == "bare_concrete_function":
                roots.add(node.bare_concrete_function.concrete_function_name)
            for so in node.saveable_objects.values():
                roots |= {so.save_function, so.restore_function} - {""}
        reachable, stack = set(), sorted(roots)
        while stack:
            name = stack.pop()
            if name in reachable:
                continue
            if name not in lib:
                raise BundleError(f"the TF SavedModel calls a function {name!r} it does not define; it is corrupt")
            reachable.add(name)
            stack.extend(sorted(_called(lib[name])))
        saver_only = set(lib) - reachable
        for name in sorted(lib):
            allowed = NUMERIC_OPS if name in reachable else NUMERIC_OPS | CHECKPOINT_OPS
            for node in lib[name].node_def:
                if node.op not in allowed:
                    raise BundleError(f"the TF SavedModel runs op {node.op!r} (in {name}), which is not a pure numeric "
                                      "op: refused, a model file must not touch files, the network or processes; "
                                      "use the bundle's ONNX weights")
            if name in saver_only:
                for callee in _called(lib[name]) - set(lib):
                    raise BundleError(f"the TF SavedModel calls a function {callee!r} it does not define")
        for node in mg.graph_def.node:
            if node.op not in NUMERIC_OPS:
                raise BundleError(f"the TF SavedModel's graph holds op {node.op!r}, which is not a pure numeric op: "
                                  "refused; use the bundle's ONNX weights")
