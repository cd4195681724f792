"""The reductions of pointad.reductions that have no home test elsewhere."""
import math

import numpy as np
import pytest

from pointad.reductions import top_mean


@pytest.mark.parametrize("n, fraction", [(1, 0.01), (99, 0.01), (100, 0.01), (101, 0.01),
                                         (1000, 0.1), (37, 0.5), (10, 1.0), (10, 0.0)])
def test_top_mean_is_the_mean_of_the_ceil_fraction_largest(n, fraction):
    values = np.random.default_rng(n).normal(size=n)
    k = max(1, math.ceil(fraction * n))
    assert top_mean(values, fraction) == pytest.approx(np.sort(values)[::-1][:k].mean(), abs=1e-12)
    assert top_mean(values.tolist(), fraction) == pytest.approx(top_mean(values, fraction))


def test_top_mean_is_not_hostage_to_one_outlier():
    values = np.zeros(1000)
    values[0] = 100.0
    assert top_mean(values, 0.01) == pytest.approx(10.0)  # one of ten, not the max
    assert top_mean(values, 0.0) == 100.0  # fraction 0: the max
