"""A catalogue of hostile and broken inputs (issue #14): bundles, images, outputs and options.

Each :class:`Case` builds its inputs in a fresh folder and names the ``care-bridge`` command that must refuse
them; ``test_catalogue.py`` runs every case through the real CLI and checks the promise of the README: exit
status 2, one line ``care-bridge: error: …`` naming the problem, nothing at the output path, no temporary
``.part`` file, inputs unchanged, and no temporary folder left behind. The builders make real files (zip
archives, ONNX graphs with ``onnx.helper``, TIFFs with tifffile); nothing is mocked except the full disk, which
a test cannot make for real.
"""

from __future__ import annotations

import io
import shutil
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import tifffile
from onnx import TensorProto, helper, numpy_helper

from onnx_bundles import write_bundle
from zip_edit import rewrite_zip

OUT = "out.tif"


@dataclass
class Job:
    """What a case built: the CLI arguments, and the paths that must not exist afterwards."""

    argv: list[str]
    outputs: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Job]  # folder → job
    expect: str  # regular expression the error line must match (case-insensitive)
    needs: str = ""  # "onnx_prob": a probabilistic bundle


def base_bundle(folder: Path, kind: str = "2d") -> Path:
    return write_bundle(kind, folder / "stage", name=f"good_{kind}")


def good_image(folder: Path, shape=(48, 64), dtype=np.uint16) -> Path:
    p = folder / "img.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(p, (rng.random(shape) * 1000).astype(dtype))
    return p


def predict(folder: Path, bundle: Path, image: Path | None = None, *extra: str, out: str = OUT) -> Job:
    image = image or good_image(folder)
    target = folder / "results" / out
    target.parent.mkdir(exist_ok=True)
    return Job(["predict", "--bundle", str(bundle), "--input", str(image), "--output", str(target), "--quiet",
                *extra], [target])


# ---------------------------------------------------------------- bundles: archives
def _edit_zip(src: Path, dst: Path, *, drop=(), replace=None, extra=(), rdf_edit=None) -> Path:
    return rewrite_zip(src, dst, replace={**dict.fromkeys(drop), **(replace or {})}, extra=list(extra),
                       rdf_edit=rdf_edit)


def _bundle_variant(**kw) -> Callable[[Path], Job]:
    def build(folder: Path) -> Job:
        return predict(folder, _edit_zip(base_bundle(folder), folder / "bad.zip", **kw))
    return build


def _raw_bundle(data_fn: Callable[[Path], bytes]) -> Callable[[Path], Job]:
    def build(folder: Path) -> Job:
        p = folder / "bad.zip"
        p.write_bytes(data_fn(folder))
        return predict(folder, p)
    return build


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _odd_compression(folder: Path) -> bytes:
    """A valid bundle whose first entry claims compression method 99 (in the local and the central header)."""
    data = bytearray(base_bundle(folder).read_bytes())
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = data.find(sig)
        struct.pack_into("<H", data, i + at, 99)
    return bytes(data)


def _many_entries(folder: Path) -> Job:
    bad = _edit_zip(base_bundle(folder), folder / "bad.zip", extra=[(f"junk/{i}.txt", b"") for i in range(10_001)])
    return predict(folder, bad)


def _zip_bomb(folder: Path) -> Job:
    return predict(folder, _edit_zip(base_bundle(folder), folder / "bad.zip", extra=[("cover.bin", bytes(100 << 20))]))


# ---------------------------------------------------------------- bundles: rdf.yaml
def _rdf_text(text: str | bytes) -> Callable[[Path], Job]:
    data = text.encode() if isinstance(text, str) else text
    return _bundle_variant(replace={"rdf.yaml": data})


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _set(path: tuple, value):
    def edit(rdf: dict) -> None:
        node = rdf
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return edit


def _rdf_variant(edit) -> Callable[[Path], Job]:
    return _bundle_variant(rdf_edit=edit)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _with_onnx(make_model: Callable[[], onnx.ModelProto | bytes]) -> Callable[[Path], Job]:
    """A bundle whose ONNX weights are replaced by ``make_model()`` (sha256 updated, so only the graph is bad)."""
    def build(folder: Path) -> Job:
        made = make_model()
        data = made if isinstance(made, bytes) else made.SerializeToString()

        def edit(rdf: dict) -> None:
            rdf["weights"]["onnx"]["sha256"] = _sha(data)
        return predict(folder, _edit_zip(base_bundle(folder), folder / "bad.zip", replace={"model.onnx": data},
                                         rdf_edit=edit))
    return build


def _conv_model(*, domain: str = "", external: bool = False, nested_custom: bool = False, c_in: int = 1):
    """A one-convolution model on ``b, c, y, x`` with input ``input`` and output ``output``."""
    def make() -> onnx.ModelProto:
        w = numpy_helper.from_array(np.ones((1, c_in, 3, 3), np.float32) / 9, "w")
        if external:  # the weights claim to live in a file outside the model
            w.ClearField("float_data")
            w.ClearField("raw_data")
            w.data_location = TensorProto.EXTERNAL
            w.external_data.add(key="location", value="../../../../etc/hostname")
        nodes = [helper.make_node("Conv", ["input", "w"], ["conv"], pads=[1, 1, 1, 1])]
        if nested_custom:
            then_g = helper.make_graph([helper.make_node("Evil", ["conv"], ["t"], domain="com.evil")], "then", [],
                                       [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
            else_g = helper.make_graph([helper.make_node("Identity", ["conv"], ["e"])], "else", [],
                                       [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
            cond = numpy_helper.from_array(np.array(True), "cond")
            nodes.append(helper.make_node("If", ["cond"], ["output"], then_branch=then_g, else_branch=else_g))
            inits = [w, cond]
        else:
            nodes.append(helper.make_node("Relu" if not domain else "Evil", ["conv"], ["output"], domain=domain))
            inits = [w]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                          ["b", c_in, "y", "x"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", 1, "y", "x"])], inits)
        opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else []) + (
            [helper.make_opsetid("com.evil", 1)] if nested_custom else [])
        return helper.make_model(g, opset_imports=opsets)
    return make


def _unpacked_with_outside_link(folder: Path) -> Job:
    root = folder / "unpacked"
    with zipfile.ZipFile(base_bundle(folder)) as zf:
        zf.extractall(root)
    outside = folder / "outside.onnx"
    shutil.move(root / "model.onnx", outside)
    (root / "model.onnx").symlink_to(outside)
    return predict(folder, root)


def _folder_without_rdf(folder: Path) -> Job:
    (folder / "empty_bundle").mkdir()
    return predict(folder, folder / "empty_bundle")


def _pickled_test_tensor(folder: Path) -> Job:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    data = buf.getvalue()

    def edit(rdf: dict) -> None:
        rdf["inputs"][0]["test_tensor"]["sha256"] = _sha(data)
    return predict(folder, _edit_zip(base_bundle(folder), folder / "bad.zip", replace={"test_input.npy": data},
                                     rdf_edit=edit))


# ---------------------------------------------------------------- images
def _image_bytes(data_fn: Callable[[Path], bytes], name: str = "bad.tif") -> Callable[[Path], Job]:
    def build(folder: Path) -> Job:
        p = folder / name
        p.write_bytes(data_fn(folder))
        return predict(folder, base_bundle(folder), p)
    return build


def _tiff_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def _truncated(compression: str | None) -> Callable[[Path], bytes]:
    def make(_folder: Path) -> bytes:
        kw = {"compression": compression, "tile": (64, 64)} if compression else {}
        data = _tiff_bytes((np.arange(256 * 256) % 4000).astype(np.uint16).reshape(256, 256), **kw)
        return data[: len(data) // 2]
    return make


def _patched_tag(arr: np.ndarray, tag: str, value: int) -> Callable[[Path], bytes]:
    """A valid TIFF whose (inline, 4-byte) tag ``tag`` says ``value``: a header that lies about the pixels."""
    def make(_folder: Path) -> bytes:
        data = bytearray(_tiff_bytes(arr))
        with tifffile.TiffFile(io.BytesIO(bytes(data))) as tf:
            t = tf.pages[0].tags[tag]
            offset, dtype = t.valueoffset, t.dtype
        if dtype == 3:  # SHORT: widen is impossible in place, the value must fit 16 bits
            struct.pack_into("<H", data, offset, value & 0xFFFF)
        else:
            struct.pack_into("<I", data, offset, value)
        return bytes(data)
    return make


def _huge_header(_folder: Path) -> bytes:
    """A tiny TIFF whose header claims 100000 x 100000 float32 pixels (37 GiB)."""
    data = bytearray(_tiff_bytes(np.zeros((16, 16), np.float32)))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tf:
        tags = tf.pages[0].tags
        spots = [(tags[n].valueoffset, tags[n].dtype) for n in ("ImageWidth", "ImageLength", "RowsPerStrip")
                 if n in tags]
    for offset, dtype in spots:
        if dtype == 3:
            struct.pack_into("<HH", data, offset, 100000 & 0xFFFF, 0)  # a SHORT cannot say 100000: use LONG
            struct.pack_into("<H", data, offset - 6, 4)  # the entry's type field → LONG (entry: tag, type, count)
            struct.pack_into("<I", data, offset, 100000)
        else:
            struct.pack_into("<I", data, offset, 100000)
    return bytes(data)


def _zlib_bomb(folder: Path) -> Job:
    p = folder / "bomb.tif"
    tile = np.zeros((512, 512), np.uint8)
    n = -(-30000 // 512)
    tifffile.imwrite(p, (tile for _ in range(n * n)), shape=(30000, 30000), dtype=np.uint8, tile=(512, 512),
                     compression="zlib")
    return predict(folder, base_bundle(folder), p)


def _array_image(arr: np.ndarray, *extra: str) -> Callable[[Path], Job]:
    def build(folder: Path) -> Job:
        p = folder / "img.tif"
        tifffile.imwrite(p, arr)
        return predict(folder, base_bundle(folder), p, *extra)
    return build


def _with_value(value: float) -> np.ndarray:
    a = np.random.default_rng(0).random((48, 64)).astype(np.float32)
    a[5, 7] = value
    return a


def _extreme(_=None) -> np.ndarray:
    a = np.zeros((48, 64), np.float32)
    a[::2] = 3e38
    a[1::2] = -3e38
    a[0, 0] = 0
    return a


def _option(*extra: str, kind: str = "2d") -> Callable[[Path], Job]:
    def build(folder: Path) -> Job:
        return predict(folder, base_bundle(folder, kind), None, *extra)
    return build


# ---------------------------------------------------------------- outputs
def _existing_output(folder: Path) -> Job:
    job = predict(folder, base_bundle(folder))
    job.outputs[0].write_bytes(b"an earlier result")  # must survive unchanged (every file is compared)
    return Job(job.argv, [])


def _output_is_input(folder: Path) -> Job:
    img = good_image(folder)
    return Job(["predict", "--bundle", str(base_bundle(folder)), "--input", str(img), "--output", str(img),
                "--overwrite", "--quiet"], [])


def _missing_output_folder(folder: Path) -> Job:
    target = folder / "no" / "such" / "folder" / OUT
    return Job(["predict", "--bundle", str(base_bundle(folder)), "--input", str(good_image(folder)), "--output",
                str(target), "--quiet"], [target])


def _output_is_a_folder(folder: Path) -> Job:
    target = folder / "results" / "a_folder.tif"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("keep")
    return Job(["predict", "--bundle", str(base_bundle(folder)), "--input", str(good_image(folder)), "--output",
                str(target), "--overwrite", "--quiet"], [])


def _scale_output_exists(folder: Path) -> Job:
    job = predict(folder, base_bundle(folder, "2d_probabilistic"))
    job.outputs[0].with_name("out_scale.tif").write_bytes(b"an earlier result")  # must survive unchanged
    return job


def _plain_zarr(folder: Path) -> Path:
    p = folder / "plain.zarr"
    p.mkdir()
    (p / ".zgroup").write_text('{"zarr_format": 2}')
    return p


# ---------------------------------------------------------------- bundles: pytorch_state_dict weights (#13)
CAREAMICS_UNET = {"import_from": "careamics.models.unet", "callable": "UNet",
                  "kwargs": {"architecture": "UNet", "conv_dims": 2, "in_channels": 1, "num_classes": 1, "depth": 2,
                             "num_channels_init": 8}}


def _torch_save_zip(pickle_bytes: bytes) -> bytes:
    """A torch.save archive around ``pickle_bytes`` (no storages), made without PyTorch."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/version", b"3\n")
    return buf.getvalue()


def _with_state_dict(data: bytes, architecture: dict, extra: tuple = ()) -> Callable[[Path], Job]:
    """The base bundle with only ``pytorch_state_dict`` weights: ``data`` as weights.pt, ``architecture``."""
    def build(folder: Path) -> Job:
        def edit(rdf: dict) -> None:
            rdf["weights"] = {"pytorch_state_dict": {"source": "weights.pt", "sha256": _sha(data),
                                                     "pytorch_version": "2.13", "architecture": architecture}}
        return predict(folder, _edit_zip(base_bundle(folder), folder / "bad.zip",
                                         extra=[("weights.pt", data), *extra], rdf_edit=edit))
    return build


# GLOBAL os.system, the argument, REDUCE: what pickle.load would run
_PICKLE_RUNS_A_COMMAND = b"\x80\x02cos\nsystem\nX\x0c\x00\x00\x00touch pwned!\x85R."
_ARCH_FILE = b"import os\nos.system('touch pwned')\nclass UNet:\n    pass\n"
NEEDS_TORCH = r"|pip install 'care_bridge\[torch\]'"  # without PyTorch, the file is not even read


def _missing_input(folder: Path) -> Job:
    return predict(folder, base_bundle(folder), folder / "nothing_here.tif")


def _empty_input_folder(folder: Path) -> Job:
    (folder / "no_tiffs").mkdir()
    (folder / "no_tiffs" / "notes.txt").write_text("not an image")
    return predict(folder, base_bundle(folder), folder / "no_tiffs")


CASES: list[Case] = [
    # bundle archives
    Case("bundle_not_a_zip", _raw_bundle(lambda f: b"PK\x03\x04 definitely not a zip" * 50), r"not a readable zip"),
    Case("bundle_empty_file", _raw_bundle(lambda f: b""), r"not a readable zip"),
    Case("bundle_truncated_zip", _raw_bundle(lambda f: (lambda b: b[: len(b) // 2])(base_bundle(f).read_bytes())),
         r"not a readable zip|corrupt"),
    Case("bundle_zip_slip", _bundle_variant(extra=[("../evil.txt", b"x")]), r"'\.\.'.*escape"),
    Case("bundle_absolute_entry", _bundle_variant(extra=[("/tmp/evil.txt", b"x")]), r"absolute path"),
    Case("bundle_backslash_entry", _bundle_variant(extra=[("a\\..\\..\\evil.txt", b"x")]), r"backslash"),
    Case("bundle_symlink_entry", _bundle_variant(extra=[(_symlink_entry(), b"/etc/passwd")]), r"symbolic link"),
    Case("bundle_duplicate_entry", _bundle_variant(extra=[("rdf.yaml", b"name: second")]), r"duplicate"),
    Case("bundle_zip_bomb", _zip_bomb, r"compression ratio|zip bomb"),
    Case("bundle_many_entries", _many_entries, r"entries"),
    Case("bundle_without_rdf", _bundle_variant(drop=("rdf.yaml",)), r"rdf\.yaml"),
    Case("bundle_folder_without_rdf", _folder_without_rdf, r"rdf\.yaml"),
    # rdf.yaml
    Case("rdf_alias_bomb", _rdf_text(BILLION_LAUGHS), r"aliases"),
    Case("rdf_deep_nesting", _rdf_text("a: " + "[" * 5000 + "]" * 5000), r"nests deeper"),
    Case("rdf_python_tag", _rdf_text("name: !!python/object/apply:os.system ['touch /tmp/pwned']\n"),
         r"not valid YAML"),
    Case("rdf_not_a_mapping", _rdf_text("- just\n- a list\n"), r"rdf\.yaml"),
    Case("rdf_binary_garbage", _rdf_text(bytes(range(256)) * 4), r"rdf\.yaml"),
    Case("rdf_too_large", _rdf_text("name: " + "x" * (5 << 20)), r"over 4 MiB"),
    Case("rdf_unknown_format_version", _rdf_variant(_set(("format_version",), "9.9.9")), r"format_version|version"),
    Case("rdf_not_a_model", _rdf_variant(_set(("type",), "dataset")), r"model"),
    Case("rdf_path_escaping", _rdf_variant(lambda r: r["weights"]["onnx"].update(source="../model.onnx")),
         r"'\.\.'|outside"),
    Case("rdf_halo_over_min_size", _rdf_variant(lambda r: r["outputs"][0]["axes"][1].update(halo=40)),
         r"halo"),
    Case("rdf_step_zero", _rdf_variant(lambda r: r["inputs"][0]["axes"][1]["size"].update(step=0)), r"step|fixed size"),
    Case("rdf_step_negative", _rdf_variant(lambda r: r["inputs"][0]["axes"][1]["size"].update(step=-4)), r"step"),
    Case("rdf_absurd_min_size", _rdf_variant(lambda r: r["inputs"][0]["axes"][1]["size"].update(min=10**12)),
         r"size\.min|limit|min"),
    Case("rdf_only_pytorch_weights", _rdf_variant(lambda r: r.update(weights={"pytorch_state_dict": {
        "source": "model.onnx", "sha256": r["weights"]["onnx"]["sha256"]}})), r"no weights|pytorch"),
    Case("state_dict_pickle_runs_a_command", _with_state_dict(_torch_save_zip(_PICKLE_RUNS_A_COMMAND), CAREAMICS_UNET),
         r"names 'os\.system', which a state dict never holds" + NEEDS_TORCH),
    Case("state_dict_legacy_format", _with_state_dict(b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.",
                                                      CAREAMICS_UNET), r"legacy format" + NEEDS_TORCH),
    Case("state_dict_architecture_in_a_file", _with_state_dict(_torch_save_zip(b"\x80\x02}."), {
        "source": "unet.py", "callable": "UNet", "sha256": _sha(_ARCH_FILE), "kwargs": {}},
        extra=(("unet.py", _ARCH_FILE),)), r"Python code in a file \(unet\.py\), which care_bridge never runs"),
    Case("state_dict_unknown_architecture", _with_state_dict(_torch_save_zip(b"\x80\x02}."), {
        **CAREAMICS_UNET, "import_from": "evil.models"}), r"'evil\.models\.UNet' is not one care_bridge builds"),
    Case("rdf_only_remote_weights", _rdf_variant(lambda r: r["weights"]["onnx"].update(
        source="https://example.org/model.onnx")), r"no local weights"),
    Case("rdf_inconsistent_care_block", _rdf_variant(lambda r: r["config"]["care_bridge"].update(axes="ZYX")),
         r"axes|inconsistent|care_bridge"),
    # found by the fuzzer (tests/hostile/test_fuzz.py), kept as regressions
    Case("rdf_inputs_not_a_list", _rdf_variant(lambda r: r.update(inputs="input")), r"inputs must be a list"),
    Case("rdf_axis_not_a_mapping", _rdf_variant(lambda r: r["inputs"][0].update(axes=[["y"], ["x"]])),
         r"must be a mapping"),
    Case("rdf_op_kwarg_of_the_wrong_kind", _rdf_variant(
        lambda r: r["inputs"][0]["preprocessing"][0]["kwargs"].update(axes=True)), r"kwarg 'axes'"),
    Case("rdf_declares_an_output_the_weights_do_not_give", _rdf_variant(
        lambda r: (r.pop("config"), r["outputs"][0]["axes"].pop(2))), r"does not match the weights|disagree"),
    Case("bundle_unsupported_compression_method", _raw_bundle(_odd_compression), r"compression method"),
    Case("bundle_entry_name_too_long", _bundle_variant(extra=[("x" * 300, b"x")]), r"longer than file systems"),
    # bundle files
    Case("weights_sha256_mismatch", _bundle_variant(replace={"model.onnx": b"tampered" * 100}), r"sha256"),
    Case("weights_missing", _bundle_variant(drop=("model.onnx",)), r"missing"),
    Case("weights_garbage_with_matching_sha",
         _with_onnx(lambda: b"\xff\xff\xff garbage"),
         r"not a valid ONNX|cannot be loaded|corrupt"),
    Case("weights_custom_domain_op", _with_onnx(_conv_model(domain="com.evil")), r"custom domain"),
    Case("weights_custom_op_in_subgraph", _with_onnx(_conv_model(nested_custom=True)), r"custom domain"),
    Case("weights_external_data", _with_onnx(_conv_model(external=True)), r"external data"),
    Case("weights_input_shape_mismatch", _with_onnx(_conv_model(c_in=3)), r"refused an input"),
    Case("test_tensor_pickled", _pickled_test_tensor, r"pickle|object"),
    Case("unpacked_bundle_link_outside", _unpacked_with_outside_link, r"outside"),
    # images
    Case("image_not_a_tiff", _image_bytes(lambda f: b"hello, I am a text file\n" * 20), r"cannot read .* as TIFF"),
    Case("image_empty_file", _image_bytes(lambda f: b""), r"cannot read .* as TIFF"),
    Case("image_truncated", _image_bytes(_truncated(None)), r"cannot read .* as TIFF|damaged"),
    Case("image_truncated_zlib", _image_bytes(_truncated("zlib")), r"cannot read .* as TIFF|damaged"),
    Case("image_strip_offset_beyond_file",
         _image_bytes(_patched_tag(np.ones((64, 64), np.uint16), "StripOffsets", 10**8)),
         r"cannot read .* as TIFF|damaged"),
    Case("image_header_claims_100000_squared", _image_bytes(_huge_header), r"declares 100000x100000"),
    Case("image_zlib_bomb", _zlib_bomb, r"decompression bomb"),
    Case("image_nan", _array_image(_with_value(np.nan)), r"NaN"),
    Case("image_inf", _array_image(_with_value(np.inf)), r"NaN|Inf|non-finite"),
    Case("image_extreme_finite_values", _array_image(_extreme()), r"span .* more than float32"),
    Case("image_one_extreme_pixel", _array_image(_with_value(3e38)), r"non-finite"),
    Case("image_complex", _array_image(np.ones((48, 64), np.complex64)), r"dtype|numeric"),
    Case("image_bool", _array_image(np.ones((48, 64), bool)), r"dtype|numeric"),
    Case("image_wrong_axes_length", _array_image(np.ones((48, 64), np.float32), "--axes", "ZYX"), r"axes"),
    Case("image_duplicate_axes", _array_image(np.ones((48, 64), np.float32), "--axes", "YY"), r"axes|twice|repeat"),
    Case("image_unknown_axis", _array_image(np.ones((48, 64), np.float32), "--axes", "QX"), r"axes|axis"),
    Case("image_z_stack_for_2d_model", _array_image(np.ones((3, 48, 64), np.float32), "--axes", "ZYX"), r"2D model"),
    Case("image_channels_mismatch", _array_image(np.ones((2, 48, 64), np.float32), "--axes", "CYX"), r"channel"),
    Case("image_missing", _missing_input, r"does not exist"),
    Case("image_corrupt_czi", _image_bytes(lambda f: b"ZISRAWFILE" + bytes(200), name="bad.czi"),
         r"cannot read bad\.czi|needs bioio|need bioio"),
    Case("image_zarr_store_without_ome_metadata", lambda f: predict(f, base_bundle(f), _plain_zarr(f)),
         r"not OME-Zarr|needs the zarr package"),
    Case("image_folder_without_tiffs", _empty_input_folder, r"no TIFF"),
    # outputs
    Case("output_exists", _existing_output, r"already exists"),
    Case("output_is_the_input", _output_is_input, r"is the input"),
    Case("output_folder_missing", _missing_output_folder, r"does not exist"),
    Case("output_is_a_folder", _output_is_a_folder, r"folder"),
    Case("output_scale_file_exists", _scale_output_exists, r"already exists"),
    # options
    Case("option_bad_tiles", _option("--n-tiles", "lots"), r"n_tiles"),
    Case("option_zero_tiles", _option("--n-tiles", "0,2"), r"n_tiles"),
    Case("option_bad_memory_budget", _option("--memory-budget", "plenty"), r"memory budget"),
    Case("option_memory_budget_below_the_image",
         _array_image(np.ones((1024, 1024), np.float32), "--memory-budget", "4M"), r"over the memory budget"),
    Case("option_bad_engine", _option("--engine", "quantum"), r"engine"),
    Case("option_bad_level", _option("--readouts", "interval", "--level", "150", kind="2d_probabilistic"), r"level"),
    Case("option_readouts_of_a_plain_model", _option("--readouts", "std"), r"readout|probabilistic"),
]
