"""The readout numerics against values derived by hand and against adaptive quadrature (scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from care_bridge.errors import CareBridgeError
from care_bridge.laplace_mixture import (central_interval, central_level, check_level, counter_uniform,
                                         disagreement, expected_calibration_error, fit_scale_factor, mixture_cdf,
                                         mixture_mean, mixture_std, samples)


def two_member_jsd(a: float) -> float:
    """KL(p1 || (p1 + p2) / 2) for Laplace(0, 1) and Laplace(a, 1), derived piecewise by hand: left of 0 and
    right of a the density ratio p2/p1 is the constant e^{-a} resp. e^{a}; in between it is e^{2s - a}, and
    int_0^a e^{-s} log(1 + e^{2s - a}) ds = log(1 + e^{-a}) - e^{-a} log(1 + e^a)
    + 2 e^{-a/2} (arctan e^{a/2} - arctan e^{-a/2})  (substitute w = e^s, integrate by parts)."""
    i = (math.log1p(math.exp(-a)) - math.exp(-a) * math.log1p(math.exp(a))
         + 2 * math.exp(-a / 2) * (math.atan(math.exp(a / 2)) - math.atan(math.exp(-a / 2))))
    return (0.5 * math.log(2 / (1 + math.exp(-a))) + 0.5 * math.exp(-a) * math.log(2 / (1 + math.exp(a)))
            + 0.5 * (1 - math.exp(-a)) * math.log(2) - 0.5 * i)


def reference_d(mu, b) -> float:
    """D by adaptive quadrature of the definition (mean KL of each member to the mixture over log M)."""
    m, tot = len(mu), 0.0
    for i in range(m):
        def f(x, i=i):
            lp = np.array([-abs(x - mu[j]) / b[j] - math.log(2 * b[j]) for j in range(m)])
            mx = lp.max()
            return math.exp(lp[i]) * (lp[i] - mx - math.log(np.exp(lp - mx).sum() / m))
        lo, hi = mu[i] - 50 * b[i], mu[i] + 50 * b[i]
        pts = sorted({*mu, *(mu[i] + s * k * b[i] for k in (0.5, 1, 2, 4, 8, 16) for s in (-1, 1))})
        v, _ = integrate.quad(f, lo, hi, points=[p for p in pts if lo < p < hi], limit=2000, epsabs=1e-14)
        tot += v
    return tot / m / math.log(m)


def test_identical_members_agree_completely():
    mu = np.full((5, 7), 3.0)
    b = np.full((5, 7), 0.4)
    assert np.abs(disagreement(mu, b)).max() < 1e-12


def test_members_far_apart_disagree_completely():
    mu = np.array([[0.0], [1e4], [2e4]])
    assert disagreement(mu, np.ones_like(mu))[0] > 1 - 1e-9


@pytest.mark.parametrize("a", [0.25, 1.0, 2.0, 5.0, 12.0])
def test_two_members_match_the_hand_derived_value(a):
    d = disagreement(np.array([[0.0], [a]]), np.ones((2, 1)))[0]
    assert d == pytest.approx(two_member_jsd(a) / math.log(2), abs=2e-5)


def test_hand_derived_value_is_the_definition():  # the formula above, checked independently
    for a in (0.5, 3.0):
        assert two_member_jsd(a) / math.log(2) == pytest.approx(reference_d([0.0, a], [1.0, 1.0]), abs=1e-10)


def test_disagreement_error_stays_within_the_stated_bound():
    rng = np.random.default_rng(3)
    worst = 0.0
    for m in (2, 3, 5):
        for t in range(12):
            b = np.exp(rng.uniform(0, math.log(100), m))
            b = np.ones(m) * rng.uniform(0.5, 2) if t % 3 == 0 else b / b.min()
            mu = rng.normal(0, 1, m) * rng.choice([0, 0.1, 1, 3, 10, 30, 100])
            worst = max(worst, abs(disagreement(mu[:, None], b[:, None])[0] - reference_d(mu, b)))
    assert worst < 3e-4


def test_disagreement_refuses_an_ensemble_of_one():
    with pytest.raises(CareBridgeError, match="at least 2 members"):
        disagreement(np.zeros((1, 3)), np.ones((1, 3)))


def test_mixture_moments_by_hand():
    mu = np.array([[-1.0], [1.0]])
    b = np.ones((2, 1))
    assert mixture_mean(mu)[0] == 0.0
    assert mixture_std(mu, b)[0] == pytest.approx(math.sqrt(3.0))  # 2 b^2 + spread of the means 1
    assert mixture_std(mu[:1], b[:1])[0] == pytest.approx(math.sqrt(2.0))


def test_single_laplace_interval_is_closed_form():
    lo, hi = central_interval(np.array([[2.0]]), np.array([[0.5]]), 0.9)
    assert lo[0] == pytest.approx(2.0 - 0.5 * math.log(10.0))
    assert hi[0] == pytest.approx(2.0 + 0.5 * math.log(10.0))


def test_mixture_interval_holds_the_level():
    mu, b = np.array([[0.0, 5.0], [3.0, 5.5]]), np.array([[1.0, 0.2], [0.3, 2.0]])
    lo, hi = central_interval(mu, b, 0.8)
    assert np.allclose(mixture_cdf(lo, mu, b), 0.1, atol=1e-12)
    assert np.allclose(mixture_cdf(hi, mu, b), 0.9, atol=1e-12)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, True, "0.9"])
def test_level_outside_the_open_unit_interval_is_refused(level):
    with pytest.raises(CareBridgeError, match="between 0 and 1"):
        check_level(level)


def test_calibrated_draws_give_small_ece_and_a_scale_factor_near_one():
    rng = np.random.default_rng(0)
    mu = rng.normal(0, 3, (1, 40000))
    b = rng.uniform(0.5, 2.0, (1, 40000))
    y = rng.laplace(mu[0], b[0])
    assert expected_calibration_error(central_level(y, mu, b)) < 0.01
    assert fit_scale_factor(y, mu, b) == pytest.approx(1.0, rel=0.05)
    # scales predicted twice too small: intervals too narrow, the fitted factor undoes it
    assert expected_calibration_error(central_level(y, mu, b / 2)) > 0.1
    assert fit_scale_factor(y, mu, b / 2) == pytest.approx(2.0, rel=0.05)


def test_central_level_is_zero_at_the_median_and_near_one_far_out():
    mu, b = np.array([[0.0]]), np.array([[1.0]])
    assert central_level(np.array([0.0]), mu, b)[0] == 0.0
    assert central_level(np.array([30.0]), mu, b)[0] > 1 - 1e-12


def test_samples_depend_on_the_pixel_not_on_the_tile():
    rng = np.random.default_rng(1)
    mu, b = rng.normal(size=(3, 10, 12)), rng.uniform(0.5, 1, (3, 10, 12))
    ids = np.arange(120).reshape(10, 12)
    whole = samples(mu, b, 4, ids, seed=7)
    part = samples(mu[:, 2:6, 5:], b[:, 2:6, 5:], 4, ids[2:6, 5:], seed=7)
    assert np.array_equal(whole[:, 2:6, 5:], part)
    assert not np.array_equal(whole, samples(mu, b, 4, ids, seed=8))


def test_samples_follow_the_distribution():
    n = 200000
    draws = samples(np.array([[1.0]]), np.array([[2.0]]), 1, np.arange(n).reshape(1, n) if False else np.zeros(1))
    assert draws.shape == (1, 1)
    ids = np.arange(n)
    x = samples(np.full((1, n), 1.0), np.full((1, n), 2.0), 1, ids)[0]
    assert x.mean() == pytest.approx(1.0, abs=0.03)
    assert x.var() == pytest.approx(8.0, rel=0.03)  # 2 b^2
    u = counter_uniform(ids, 0, 0, 0)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
