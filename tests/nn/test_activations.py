import warnings

import numpy as np
import pytest

from unrolled.nn.activations import dsigmoid, dtanh, drelu, log_softmax, relu, sigmoid, softmax
from unrolled.train.gradcheck import numerical_gradient


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_no_overflow_warning(dtype):
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = sigmoid(x)
    assert s.dtype == dtype
    assert np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5


def test_sigmoid_matches_definition():
    x = np.linspace(-20, 20, 101)
    assert np.allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("f,df", [(sigmoid, dsigmoid), (np.tanh, dtanh), (relu, drelu)])
def test_derivatives_from_outputs(f, df):
    x = np.array([-2.0, -0.3, 0.4, 1.7])
    num = numerical_gradient(lambda: f(x).sum(), x)
    assert np.allclose(df(f(x)), num, atol=1e-8)


def test_softmax_stable_and_consistent():
    o = np.array([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, lp = softmax(o), log_softmax(o)
    assert np.allclose(p.sum(axis=-1), 1.0)
    assert np.allclose(np.log(p[0]), lp[0])
    assert np.all(np.isfinite(lp))
    assert lp[1, 0] == pytest.approx(-1000.0 - (3.0 + np.log1p(np.exp(-3.0) + np.exp(-1003.0))), abs=1e-9)
