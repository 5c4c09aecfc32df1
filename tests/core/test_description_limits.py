"""Descriptions are checked against the spec's rules and sane limits before anything runs or is allocated."""

import copy

import numpy as np
import pytest

from care_bridge.bundle.rdf_parse import info_from_tensors
from care_bridge.describe import ModelInfo
from care_bridge.errors import BundleError, CareBridgeError
from care_bridge.modes.denoise import DenoiseParams
from care_bridge.runtime import Restorer

RDF = {
    "name": "third party",
    "inputs": [{"id": "raw", "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["c0"]},
                                      {"type": "space", "id": "y", "size": {"min": 16, "step": 8}},
                                      {"type": "space", "id": "x", "size": {"min": 16, "step": 8}}]}],
    "outputs": [{"id": "out", "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["c0"]},
                                       {"type": "space", "id": "y", "size": {"tensor_id": "raw", "axis_id": "y"},
                                        "halo": 4},
                                       {"type": "space", "id": "x", "size": {"tensor_id": "raw", "axis_id": "x"},
                                        "halo": 4}]}],
}


def _edit(path, value):
    rdf = copy.deepcopy(RDF)
    node = rdf
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return rdf


def test_a_valid_description_parses():
    info = info_from_tensors(RDF, "ok.zip")
    assert info.halo == (4, 4) and info.step == (8, 8) and info.min_size == (16, 16)
    assert info.input_layout == "bcyx"


@pytest.mark.parametrize("path,value,needle", [
    (("outputs", 0, "axes", 2, "halo"), 8, "leaves no output at the minimum input size 16"),
    (("outputs", 0, "axes", 2, "halo"), -1, "halo is -1"),
    (("outputs", 0, "axes", 2, "halo"), "4", "halo is '4'"),
    (("inputs", 0, "axes", 2, "size"), {"min": 16, "step": -8}, "size.step is -8"),
    (("inputs", 0, "axes", 2, "size"), {"min": 10**12, "step": 8}, "size.min is 1000000000000"),
    # a fixed size (step 0) is tiled at that size (#13), but must still leave output inside the halo
    (("inputs", 0, "axes", 2, "size"), {"min": 8, "step": 0}, "leaves no output at the minimum input size 8"),
    (("inputs", 0, "axes", 2, "scale"), "big", "unusable scale 'big'"),
    (("outputs", 0, "axes", 2, "scale"), 0.0, "unusable scale 0.0"),
])
def test_invalid_descriptions_are_refused_in_one_line(path, value, needle):
    with pytest.raises(BundleError, match=needle) as e:
        info_from_tensors(_edit(path, value), "bad.zip")
    assert str(e.value).startswith("bad.zip: ") and "\n" not in str(e.value)


class Overflow:
    name = "numpy"

    def run(self, x):
        return [x * np.float32(1e38) * np.float32(1e38)]


def test_non_finite_output_from_finite_input_is_an_error_not_silent_garbage():
    info = ModelInfo(name="t", axes="YX", n_channel_in=1, n_channel_out=1, halo=(0, 0), step=(4, 4),
                     mode="denoise", procedure=DenoiseParams())
    with pytest.raises(CareBridgeError, match="non-finite value"):
        Restorer(info, Overflow()).restore(np.random.default_rng(0).random((16, 16)).astype(np.float32), "YX")
