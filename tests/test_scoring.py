"""SLDBench's metric, checked against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lawagent.scoring import FAILURE_R2, failure, relative_nmse, score


def test_single_target_by_hand() -> None:
    y = [1.0, 2.0, 3.0, 6.0]
    p = [1.5, 2.0, 2.0, 6.5]
    # mean 3; variance (4+1+0+9)/4 = 3.5; MSE (0.25+0+1+0.25)/4 = 0.375
    # mean |y - mean| = (2+1+0+3)/4 = 1.5; MAE (0.5+0+1+0.5)/4 = 0.5
    s = score(np.array(y), np.array(p))
    assert s.nmse == pytest.approx(0.375 / 3.5)
    assert s.r2 == pytest.approx(1 - 0.375 / 3.5)
    assert s.nmae == pytest.approx(0.5 / 1.5)
    assert s.n_rows == 4 and not s.failed and s.message == ""
    assert s.per_target_r2 == pytest.approx((1 - 0.375 / 3.5,))


def test_multi_target_averages_nmse_per_target() -> None:
    y = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]])
    p = np.array([[1.0, 20.0], [2.5, 20.0], [3.0, 50.0]])
    # target 1: var 2/3, MSE 0.25/3 -> NMSE 0.125 ; MAD 2/3, MAE 0.5/3 -> 0.25
    # target 2: mean 30, var (400+100+900)/3, MSE (100+0+100)/3 -> NMSE 200/1400 ; MAD 60/3, MAE 20/3 -> 1/3
    s = score(y, p)
    nmse = [0.125, 200 / 1400]
    assert s.nmse == pytest.approx(np.mean(nmse))
    assert s.r2 == pytest.approx(1 - np.mean(nmse))
    assert s.nmae == pytest.approx(np.mean([0.25, 1 / 3]))
    assert s.per_target_r2 == pytest.approx(tuple(1 - v for v in nmse))


def test_pooled_over_groups_not_averaged_per_group() -> None:
    """The normaliser is the variance of all pooled rows, so between-group spread counts."""
    y = np.array([1.0, 1.2, 5.0, 5.2])
    p = np.array([1.1, 1.1, 5.1, 5.1])
    g = np.array(["a", "a", "b", "b"], dtype=object)
    s = score(y, p, g)
    assert s.nmse == pytest.approx(np.mean((p - y) ** 2) / np.var(y))
    assert s.r2 > 0.99  # pooled R² saturates: the groups differ in level
    assert s.group_r2 == pytest.approx(0.0)  # within each group the error equals the spread
    assert s.per_group["a"]["r2"] == pytest.approx(0.0) and s.as_dict()["group_r2"] == s.group_r2


def test_group_r2_skips_groups_without_spread_and_relative_nmse() -> None:
    y = np.array([1.0, 2.0, 3.0, 7.0])
    p = np.array([1.0, 2.5, 3.0, 9.0])
    g = np.array(["a", "a", "a", "b"], dtype=object)  # group b has one row: no R² of its own
    s = score(y, p, g)
    assert s.group_r2 == pytest.approx(1 - (0.25 / 3) / np.var([1.0, 2.0, 3.0]))
    assert "r2" not in s.per_group["b"]
    assert math.isnan(score(y, p, np.array(["a", "b", "c", "d"], dtype=object)).group_r2)
    assert math.isnan(score(y, p).group_r2)  # no groups given
    worse = score(y, y + 1.0)
    assert relative_nmse(worse, s) == pytest.approx(worse.nmse / s.nmse)
    assert math.isnan(relative_nmse(failure(4, "boom"), s)) and math.isnan(relative_nmse(s, None))
    assert failure(4, "boom").group_r2 == -1.0


def test_per_group_errors() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    p = np.array([1.0, 2.5, 3.0, 3.0, 5.0])
    g = np.array(["b", "b", "a", "a", "a"], dtype=object)
    s = score(y, p, g)
    assert list(s.per_group) == ["b", "a"]  # order of first appearance
    assert s.per_group["b"] == pytest.approx({"n_rows": 2, "rmse": math.sqrt(0.25 / 2), "mae": 0.25, "max_abs_error": 0.5,
                                              "r2": 1 - (0.25 / 2) / 0.25})
    assert s.per_group["a"] == pytest.approx({"n_rows": 3, "rmse": math.sqrt(1 / 3), "mae": 1 / 3, "max_abs_error": 1.0,
                                              "r2": 1 - (1 / 3) / np.var([3.0, 4.0, 5.0])})
    assert s.as_dict()["per_group"] == s.per_group


def test_perfect_and_mean_predictions() -> None:
    y = np.array([1.0, 4.0, 9.0])
    assert score(y, y).r2 == 1.0
    assert score(y, np.full(3, y.mean())).r2 == pytest.approx(0.0)


def test_negative_r2_is_not_clipped() -> None:
    y = np.array([1.0, 2.0, 3.0])
    s = score(y, y + 10)
    assert s.r2 == pytest.approx(1 - 100 / (2 / 3)) and not s.failed


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_prediction_fails(bad: float) -> None:
    y = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    p = y.copy()
    p[1, 1] = bad
    s = score(y, p)
    assert s.failed and s.r2 == FAILURE_R2 == -1.0
    assert "NaN or infinite" in s.message and "row 1" in s.message
    assert not math.isfinite(s.nmse)


def test_shape_mismatch_and_empty_fail_with_message() -> None:
    s = score(np.ones((3, 2)), np.ones((3, 1)))
    assert s.failed and s.r2 == -1.0 and "shape" in s.message
    s = score(np.ones((0, 1)), np.ones((0, 1)))
    assert s.failed and "no rows" in s.message


def test_constant_targets_do_not_divide_by_zero() -> None:
    s = score(np.full(4, 2.0), np.full(4, 2.5))
    assert math.isfinite(s.r2) and not s.failed


def test_as_dict_is_json_ready() -> None:
    import json

    s = score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0]), np.array(["g"] * 3, dtype=object))
    data = json.loads(json.dumps(s.as_dict()))
    assert data["r2"] == pytest.approx(s.r2) and data["per_group"]["g"]["n_rows"] == 3


def test_a_constant_target_comes_with_a_warning() -> None:
    """R² of a constant target is 1 − MSE (nothing to normalise by): near 1.0 for any close guess, so say so."""
    s = score(np.full(4, 2.0), np.full(4, 2.001))
    assert s.r2 > 0.999 and len(s.warnings) == 1
    assert "the target is constant" in s.warnings[0] and "R2 does not measure" in s.warnings[0]
    two = score(np.column_stack([np.full(4, 2.0), [1.0, 2.0, 3.0, 4.0]]), np.column_stack([np.full(4, 2.0), [1.0, 2.0, 3.0, 4.5]]))
    assert two.warnings == (two.warnings[0],) and two.warnings[0].startswith("target 1 is constant")
    assert score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0])).warnings == ()
    assert score(np.full(4, 2.0), np.full(4, 2.5)).as_dict()["warnings"] == list(s.warnings)


def test_a_target_of_small_magnitude_is_not_taken_for_a_constant() -> None:
    """The constant-target floor is relative: error rates of size 1e-7 are normalised like losses of size 3."""
    y = np.array([1.0, 2.0, 3.0, 4.0])
    for scale in (1e-7, 1.0, 1e7):
        s = score(y * scale, 1.5 * y * scale)
        assert s.r2 == pytest.approx(score(y, 1.5 * y).r2, rel=1e-9) and s.warnings == ()
