"""The typed Mode declarations: every reference resolves, parameters are typed and checked, and the output
geometry of each mode matches values derived by hand."""

import dataclasses

import pytest

from care_bridge.describe import ModelInfo
from care_bridge.errors import BundleError
from care_bridge.modes import MODES, TRAINABLE, get_mode
from care_bridge.modes.isotropic import IsotropicParams, upsampled_planes
from care_bridge.modes.upsampling import UpsamplingParams


@pytest.mark.parametrize("name", list(MODES))
def test_every_reference_of_every_mode_resolves(name):
    mode = MODES[name]
    assert mode.name == name and mode.summary
    refs = [mode.procedure] + ([mode.network, mode.halo, mode.data, mode.baseline] if name in TRAINABLE else [])
    for ref in refs:
        assert callable(ref.load()), str(ref)
    assert mode.params.from_dict({}) == mode.params()  # defaults round-trip


def test_unknown_mode_and_bad_params_are_one_line_errors():
    with pytest.raises(Exception, match="unknown mode 'x'; known modes: denoise"):
        get_mode("x")
    with pytest.raises(BundleError, match="unknown isotropic procedure key 'fator'"):
        IsotropicParams.from_dict({"fator": 2})
    with pytest.raises(BundleError, match="factor must be float"):
        IsotropicParams.from_dict({"factor": "two"})
    with pytest.raises(BundleError, match="factor must be a finite number >= 1"):
        IsotropicParams.from_dict({"factor": 0.5})
    with pytest.raises(BundleError, match="combination 'max'"):
        IsotropicParams.from_dict({"factor": 2, "combine": "max"})
    with pytest.raises(BundleError, match=r"scale must be \[2, 1, 1\]"):
        UpsamplingParams.from_dict({"factor": 2, "scale": [3, 1, 1]})
    assert UpsamplingParams.from_dict({"factor": 2}).scale == (2.0, 1.0, 1.0)
    p = IsotropicParams.from_dict({"factor": 4, "combine": "mean"})
    assert p.factor == 4.0 and isinstance(p.factor, float) and p.to_dict()["slices"] == ["ZX", "ZY"]


def _info(mode: str, axes: str, **kw) -> ModelInfo:
    params = get_mode(mode).params.from_dict(kw.pop("procedure", {}))
    n = len(axes)
    return ModelInfo(name="t", axes=axes, n_channel_in=1, n_channel_out=1, halo=(0,) * n, step=(1,) * n,
                     mode=mode, procedure=params, scale=params.size_factors(n),
                     output_layout=params.network_output_layout(), **kw)


def test_output_geometry_by_hand():
    geo = lambda info, axes, shape: {a: (g.size, g.spacing) for a, g in  # noqa: E731
                                     get_mode(info.mode).geometry(info, axes, shape).items()}
    # isotropic x4 of 10 planes: plane k lands on plane 4k, so 9 * 4 + 1 = 37 planes, spacing / 4
    iso = _info("isotropic", "YX", procedure={"factor": 4})
    assert upsampled_planes(10, 4) == 37 and upsampled_planes(10, 2.25) == 21
    assert geo(iso, "ZYX", (10, 32, 48)) == {"Z": (37, 0.25), "Y": (32, 1.0), "X": (48, 1.0)}
    assert geo(iso, "CZYX", (2, 10, 32, 48))["Z"] == (37, 0.25)
    # upsampling x2: twice the planes, spacing / 2
    up = _info("upsampling", "ZYX", procedure={"factor": 2})
    assert geo(up, "ZYX", (8, 16, 16)) == {"Z": (16, 0.5), "Y": (16, 1.0), "X": (16, 1.0)}
    # projection: Z is gone
    proj = _info("projection", "ZYX")
    assert geo(proj, "ZYX", (8, 16, 20)) == {"Y": (16, 1.0), "X": (20, 1.0)}
    # a 2D denoiser on a looped T axis and a plane-wise Z: sizes unchanged
    den = _info("denoise", "YX")
    assert geo(den, "TZYX", (3, 5, 16, 20)) == {"Z": (5, 1.0), "Y": (16, 1.0), "X": (20, 1.0)}


def test_model_info_is_frozen_and_typed():
    info = _info("isotropic", "YX", procedure={"factor": 2})
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.mode = "denoise"
    assert info.to_dict()["procedure"]["factor"] == 2.0
