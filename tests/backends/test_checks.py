"""The public backend operations refuse what would crash or mislead the kernels: the fuzz
reproducers of issue 15 as tests, on the host backends (``cpu`` and ``reference``).

Every refusal is a ``ValueError`` / ``TypeError`` whose message names the argument, what was
expected and what came in.
"""
from __future__ import annotations

import numpy as np
import pytest

from mlp.backends import checks, get_backend


@pytest.fixture(params=["cpu", "reference"])
def host(request):
    return get_backend(request.param)


def test_wide_x_against_a_two_row_w_is_refused(host):
    x = np.ones((2, 100_000))
    with pytest.raises(ValueError, match=r"^w: expected shape \(100000, units\)"):
        host.dense_forward(x, np.ones((2, 3)), np.zeros(3), "relu")


def test_a_bias_of_one_value_for_a_million_units_is_refused(host):
    with pytest.raises(ValueError, match=r"^b: expected 1000000 values"):
        host.dense_forward(np.ones((2, 2)), np.ones((2, 1_000_000), np.float32),
                           np.zeros(1, np.float32))


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0], [0, 10 ** 9], [-(2 ** 62), 1]])
@pytest.mark.parametrize("name", ["categorical_crossentropy",
                                  "categorical_crossentropy_from_logits"])
def test_labels_out_of_range_are_refused(host, name, labels):
    with pytest.raises(ValueError, match=r"^target: expected class indices in \[0, 2\]"):
        host.loss(name, np.full((2, 3), 0.3), np.array(labels))


def test_float_labels_must_be_whole(host):
    with pytest.raises(ValueError, match="^target: expected integer class indices"):
        host.loss("categorical_crossentropy", np.full((2, 3), 0.3), np.array([0.5, 1.0]))
    value, _ = host.loss("categorical_crossentropy", np.full((2, 3), 0.3), np.array([0.0, 2.0]))
    assert np.isfinite(value)


def test_loss_target_and_weight_shapes(host):
    pred = np.full((4, 2), 0.5)
    with pytest.raises(ValueError, match=r"^target: expected shape \(4, 2\) like pred"):
        host.loss("mean_squared_error", pred, np.zeros((4, 1)))
    with pytest.raises(ValueError, match="^sample_weight: expected 4 values"):
        host.loss("mean_squared_error", pred, np.zeros((4, 2)), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="^pred: expected at least one row"):
        host.loss("mean_squared_error", np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="^name: unknown loss"):
        host.loss(["mse"], pred, pred)


def test_optimizer_buffers_of_another_size_are_refused(host):
    param = np.zeros(8)
    with pytest.raises(ValueError, match="^grad: expected 8 elements"):
        host.sgd_update(param, np.ones(3), None, 0.1)
    with pytest.raises(ValueError, match="^v: expected a writeable 1-D C-contiguous float64 "
                                         "buffer of 8 elements"):
        host.adam_update(param, np.ones(8), np.zeros(8), np.zeros(2), None, 1, 1e-3, 0.9,
                         0.999, 1e-7)
    with pytest.raises(ValueError, match="^step: expected an integer in"):
        host.adam_update(param, np.ones(8), np.zeros(8), np.zeros(8), None, 0, 1e-3, 0.9,
                         0.999, 1e-7)
    with pytest.raises(TypeError, match="^lr: expected a finite number, got 'x'"):
        host.adagrad_update(param, np.ones(8), np.zeros(8), "x", 1e-7)
    with pytest.raises(ValueError, match="^param: expected 8 elements"):
        host.add_penalty_gradient(np.zeros(8), np.ones(7), 0.1, 0.1)


def test_matmul_inner_dimensions_and_scalars(host):
    with pytest.raises(ValueError, match=r"^b: expected 3 rows in op\(b\)"):
        host.matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(TypeError, match="^alpha: expected a finite number"):
        host.matmul(np.ones((2, 3)), np.ones((3, 2)), alpha="2")
    np.testing.assert_array_equal(host.matmul(np.ones((2, 0)), np.ones((0, 3))),
                                  np.zeros((2, 3)))


def test_non_numeric_and_wrongly_shaped_arrays(host):
    with pytest.raises(TypeError, match="^x: expected a numeric array"):
        host.dense_forward(np.array([["a", "b"]]), np.ones((2, 2)), None)
    with pytest.raises(ValueError, match="^z: expected a 2-D array, got float64 array of "
                                         r"shape \(3,\)"):
        host.activation_forward(np.ones(3), "relu")
    with pytest.raises(ValueError, match=r"^y: expected shape \(2, 2\) like dy"):
        host.activation_backward(np.ones((2, 2)), np.ones((2, 3)), None, "relu")
    with pytest.raises(ValueError, match="^activation: unknown activation"):
        host.activation_forward(np.ones((2, 2)), ["relu"])
    with pytest.raises(TypeError, match="^alpha: expected a finite number or None"):
        host.activation_forward(np.ones((2, 2)), "leaky_relu", alpha="0.1")


def test_dropout_arguments(host):
    with pytest.raises(ValueError, match=r"^rate: expected a number in \[0, 1\)"):
        host.dropout_mask((2, 2), 1.0, 0, 0, 0, np.float32)
    with pytest.raises(TypeError, match="^seed: expected an integer"):
        host.dropout_forward(np.ones((2, 2)), 0.5, 1.5, 0, 0)
    with pytest.raises(TypeError, match="^dtype: expected float32 or float64"):
        host.dropout_mask((2, 2), 0.5, 0, 0, 0, np.int32)


def test_outputs_that_cannot_fit_in_memory_are_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(checks, "_memory_limit", 1 << 20)
    with pytest.raises(ValueError, match=r"^out: expected a size whose buffers fit in memory "
                                         r"\(at most 1 MiB\), got shape \(1000, 1000\) "
                                         r"\(7.63 MiB\)"):
        get_backend("cpu").dense_forward(np.ones((1000, 2)), np.ones((2, 1000)), None)


def test_cpu_and_reference_agree_where_both_accept(host):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(0, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    assert host.dense_forward(x, w, b).shape == (0, 2)
    dw, db, dx = host.dense_backward(x, w, np.zeros((0, 2)), np.zeros((0, 2)))
    np.testing.assert_array_equal(dw, np.zeros((3, 2)))
    np.testing.assert_array_equal(db, np.zeros(2))
