"""The training engine: backends agree, gradients are right, the fused plan is the step plan.

* every activation x loss x layer combination trains the same on ``cpu`` and ``reference``;
* whole-model finite-difference gradient checks in float64 (regularizers and dropout included);
* the fused CPU plan (one Cython call per epoch) equals the step-by-step plan bit for bit;
* steady-state training allocates nothing per step and keeps its buffers;
* the last partial batch is trained; training is reproducible from the seed and the thread count.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import mlp
from mlp.training import plan as engine
from mlp.backends.cpu_plan import FusedCPUPlan
from mlp.losses import BinaryCrossentropy, CategoricalCrossentropy, Huber
from mlp.regularizers import L1L2

ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "gelu",
               "swish"]

# loss case -> (loss factory, output activation or None for "the case's activation",
#               outputs, target kind, append Activation("linear") after the output layer)
LOSS_CASES = {
    "mse": (lambda: "mse", None, 3, "values", False),
    "mae": (lambda: "mae", None, 3, "values", False),
    "huber": (lambda: Huber(delta=0.3), None, 3, "values", False),
    # sigmoid + BCE and softmax + CCE train from logits (the fused kernels)
    "bce_sigmoid_fused": (lambda: "binary_crossentropy", "sigmoid", 2, "binary", False),
    "cce_softmax_fused": (lambda: "categorical_crossentropy", "softmax", 3, "one_hot", False),
    "sparse_cce": (lambda: "sparse_categorical_crossentropy", "softmax", 3, "labels", False),
    "bce_from_logits": (lambda: BinaryCrossentropy(from_logits=True), "linear", 1, "binary",
                        False),
    "cce_from_logits": (lambda: CategoricalCrossentropy(from_logits=True), "linear", 3,
                        "one_hot", False),
    # an Activation("linear") after the probability output defeats fusion: the kernels that
    # take probabilities run
    "bce_probabilities": (lambda: "binary_crossentropy", "sigmoid", 1, "binary", True),
    "cce_probabilities": (lambda: "categorical_crossentropy", "softmax", 3, "one_hot", True),
}

OPTIMIZERS = {
    "sgd": lambda: mlp.SGD(0.05),
    "sgd_momentum": lambda: mlp.SGD(0.05, momentum=0.9),
    "sgd_nesterov_wd": lambda: mlp.SGD(0.05, momentum=0.8, nesterov=True, weight_decay=1e-3),
    "adam": lambda: mlp.Adam(0.01),
    "adam_amsgrad_wd": lambda: mlp.Adam(0.01, amsgrad=True, weight_decay=1e-3),
    "adamw": lambda: mlp.AdamW(0.01, weight_decay=0.05),
    "rmsprop": lambda: mlp.RMSprop(0.005),
    "rmsprop_centered": lambda: mlp.RMSprop(0.005, centered=True),
    "rmsprop_momentum": lambda: mlp.RMSprop(0.005, momentum=0.9),
    "rmsprop_centered_momentum": lambda: mlp.RMSprop(0.005, momentum=0.5, centered=True),
    "adagrad": lambda: mlp.Adagrad(0.05),
    "sgd_clipnorm": lambda: mlp.SGD(0.1, momentum=0.5, clipnorm=0.05),
    "adam_clipvalue": lambda: mlp.Adam(0.01, clipvalue=0.01),
    "rmsprop_global_clipnorm": lambda: mlp.RMSprop(0.01, global_clipnorm=0.05),
    "adamw_all_clips": lambda: mlp.AdamW(0.01, clipvalue=0.02, global_clipnorm=0.05),
    "adagrad_clipnorm": lambda: mlp.Adagrad(0.1, clipnorm=0.01),
}
OPTIMIZER_NAMES = list(OPTIMIZERS)

N_IN = 5


def make_targets(kind, n, n_out, rng):
    if kind == "values":
        return rng.normal(size=(n, n_out))
    if kind == "binary":
        y = (rng.random((n, n_out)) > 0.5).astype(np.float64)
        return y[:, 0] if n_out == 1 else y
    if kind == "one_hot":
        return np.eye(n_out)[rng.integers(0, n_out, n)]
    return rng.integers(0, n_out, n)


def build_model(activation, loss_case, backend, optimizer="adam", seed=11, dropout=0.3,
                dtype="float64", norm=None):
    """The engine's test network; ``norm`` ("batch" or "layer") puts a normalization layer
    behind the dropout and another behind the second Dense."""
    loss, out_act, n_out, _, tail = LOSS_CASES[loss_case]
    layers = [
        mlp.Dense(7, activation=activation, input_dim=N_IN,
                  kernel_regularizer=L1L2(l1=1e-3, l2=2e-3)),
        mlp.Dropout(dropout),
        mlp.Dense(6, kernel_regularizer="l2"),
        mlp.Activation(activation),
        mlp.Dense(n_out, activation=out_act or activation, kernel_regularizer="l1"),
    ]
    if norm is not None:
        kind = {"batch": mlp.BatchNormalization, "layer": mlp.LayerNormalization}[norm]
        options = {"momentum": 0.9} if norm == "batch" else {}
        layers.insert(3, kind(**options))
        layers.insert(2, kind(center=False, **options))
    if tail:
        layers.append(mlp.Activation("linear"))
    model = mlp.Sequential(layers, seed=seed, backend=backend, dtype=dtype)
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss=loss())
    return model


def make_data(loss_case, n=37, seed=0):
    rng = np.random.default_rng(seed)
    _, _, n_out, kind, _ = LOSS_CASES[loss_case]
    x = rng.normal(size=(n, N_IN))
    return x, make_targets(kind, n, n_out, rng), rng.uniform(0.2, 2.0, n)


def assert_models_match(a, b, rtol=1e-9, atol=1e-12):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol)


# --------------------------------------------------------------- cpu == reference
COMBOS = [(act, loss) for act in ACTIVATIONS for loss in LOSS_CASES]


@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-9, 1e-12),
                                               ("float32", 1e-3, 1e-5)])
@pytest.mark.parametrize("activation, loss_case", COMBOS)
def test_cpu_matches_reference_for_every_activation_and_loss(activation, loss_case, dtype,
                                                             rtol, atol):
    index = COMBOS.index((activation, loss_case))
    optimizer = OPTIMIZER_NAMES[index % len(OPTIMIZER_NAMES)]
    x, y, w = make_data(loss_case)
    weight = w if index % 2 else None
    models, histories = [], []
    for backend in ("cpu", "reference"):
        model = build_model(activation, loss_case, backend, optimizer, dtype=dtype)
        histories.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0,
                                   sample_weight=weight).history["loss"])
        models.append(model)
    cpu, ref = models
    assert type(cpu._train_plan) is FusedCPUPlan
    assert type(ref._train_plan) is engine.TrainingPlan
    fresh = build_model(activation, loss_case, "reference", optimizer)
    fresh.build()
    initial = fresh.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(initial, ref.get_weights())), \
        "training did not change the weights"
    assert_models_match(cpu, ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(histories[0], histories[1], rtol=rtol)
    assert np.all(np.isfinite(histories[0]))
    assert cpu.optimizer.iterations == ref.optimizer.iterations == 2 * 5
    if dtype == "float32":
        return
    for name, slot in ref.optimizer.slots.items():
        np.testing.assert_allclose(cpu.optimizer.slots[name], slot, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cpu.predict(x), ref.predict(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cpu.evaluate(x, y)["loss"], ref.evaluate(x, y)["loss"],
                               rtol=1e-9)


@pytest.mark.parametrize("optimizer", OPTIMIZER_NAMES)
@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-9, 1e-12),
                                               ("float32", 2e-4, 1e-6)])
def test_cpu_matches_reference_for_every_optimizer(optimizer, dtype, rtol, atol):
    x, y, _ = make_data("bce_sigmoid_fused", n=45)
    models, histories = [], []
    for backend in ("cpu", "reference"):
        model = build_model("tanh", "bce_sigmoid_fused", backend, optimizer, dtype=dtype)
        histories.append(model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"])
        models.append(model)
    assert_models_match(*models, rtol=rtol, atol=atol)
    np.testing.assert_allclose(histories[0], histories[1], rtol=rtol)


# ------------------------------------------------------------------ gradient check
def _prepared(model, x, y, w):
    x, target, weight = model._prepare(x, y, w)
    return x, target, weight


def _loss_at(plan, x, target, weight, grad=None):
    rows = x.shape[0]
    out = plan.forward(x, rows, training=True, step_number=0)
    value, _ = plan.backend.loss(plan.loss_kernel, out, target, weight, grad=grad,
                                 delta=plan.delta)
    return value + plan.penalty()


def gradient_check(model, x, y, w, eps=1e-6):
    x, target, weight = _prepared(model, x, y, w)
    # non-zero biases: with zero biases a unit whose inputs are all zero (dropped or cut by
    # relu) sits exactly on the relu kink, where finite differences are meaningless
    rng = np.random.default_rng(17)
    model.set_weights([w_ + (rng.normal(scale=0.1, size=w_.shape) if w_.ndim == 1 else 0)
                       for w_ in model.get_weights()])
    rows = x.shape[0]
    plan = model._plan(rows)
    assert plan.params is model.params
    plan.grads[...] = np.nan     # backward must overwrite every element
    _loss_at(plan, x, target, weight, grad=plan.output_grads[-1][:rows])
    plan.backward(x, rows, 0)
    analytic = np.array(plan.grads, copy=True)
    params = model.params
    numeric = np.empty_like(analytic)
    for k in range(params.size):
        saved = params[k]
        params[k] = saved + eps
        up = _loss_at(plan, x, target, weight)
        params[k] = saved - eps
        down = _loss_at(plan, x, target, weight)
        params[k] = saved
        numeric[k] = (up - down) / (2 * eps)
    return analytic, numeric


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("activation, loss_case", COMBOS)
def test_whole_model_gradient_matches_finite_differences(backend, activation, loss_case):
    x, y, w = make_data(loss_case, n=9, seed=3)
    model = build_model(activation, loss_case, backend, seed=5)
    analytic, numeric = gradient_check(model, x, y, w)
    assert np.all(np.isfinite(analytic))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    assert np.abs(analytic).max() > 1e-4     # the check is not vacuous


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_gradient_check_without_bias_and_with_a_saturated_dropout_mask(backend):
    rng = np.random.default_rng(8)
    model = mlp.Sequential([
        mlp.Dense(6, activation="gelu", input_dim=4, use_bias=False,
                  kernel_regularizer=L1L2(0.01, 0.01)),
        mlp.Dropout(0.6, seed=3),
        mlp.Activation("swish"),
        mlp.Dense(4, activation="elu", alpha=0.7),
        mlp.Dense(2, activation="leaky_relu", alpha=0.1, use_bias=False),
    ], seed=2, backend=backend, dtype="float64")
    model.compile(optimizer="sgd", loss=Huber(delta=0.5))
    x = rng.normal(size=(7, 4))
    y = rng.normal(size=(7, 2))
    analytic, numeric = gradient_check(model, x, y, None)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def _first_layer_model(backend, first):
    layers = ([mlp.Input((4,)), mlp.Dropout(0.4, seed=1), mlp.Dense(5, activation="elu")]
              if first == "dropout" else
              [mlp.Input((4,)), mlp.Activation("tanh"), mlp.Dense(5, activation="swish")])
    model = mlp.Sequential(layers + [mlp.Dense(3, activation="softmax")], seed=4,
                           backend=backend, dtype="float64")
    model.compile(optimizer=mlp.RMSprop(0.01, momentum=0.5), loss="categorical_crossentropy")
    return model


@pytest.mark.parametrize("first", ["dropout", "activation"])
def test_models_starting_with_dropout_or_activation(first):
    """Input dropout / an activation before any weights: no input gradient is needed."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(21, 4))
    y = np.eye(3)[rng.integers(0, 3, 21)]
    for backend in ("cpu", "reference"):
        analytic, numeric = gradient_check(_first_layer_model(backend, first), x[:8], y[:8],
                                           None)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    cpu, ref = _first_layer_model("cpu", first), _first_layer_model("reference", first)
    h_cpu = cpu.fit(x, y, epochs=3, batch_size=5, verbose=0).history["loss"]
    h_ref = ref.fit(x, y, epochs=3, batch_size=5, verbose=0).history["loss"]
    np.testing.assert_allclose(h_cpu, h_ref, rtol=1e-9)
    assert_models_match(cpu, ref)
    step = _first_layer_model("cpu", first)
    step.build()
    install_step_plan(step, 5)
    step.fit(x, y, epochs=3, batch_size=5, verbose=0)
    for a, b in zip(cpu.get_weights(), step.get_weights()):
        assert np.array_equal(a, b)


def test_fused_logits_loss_equals_the_probability_loss():
    """Training sigmoid + BCE from logits is the same loss as BCE on the probabilities."""
    x, y, w = make_data("bce_sigmoid_fused", n=20)
    model = build_model("tanh", "bce_sigmoid_fused", "cpu", dropout=0.0)
    x_, target, weight = _prepared(model, x, y, w)
    plan = model._plan(20)
    assert plan.fused == "sigmoid" and plan.loss_kernel == "binary_crossentropy_from_logits"
    fused = _loss_at(plan, x_, target, weight)
    probabilities = model.predict(x)
    manual = model.loss(y, probabilities, sample_weight=w) + plan.penalty()
    assert fused == pytest.approx(manual, rel=1e-10)


# ------------------------------------------------------ fused plan == step-by-step plan
def install_step_plan(model, batch_size):
    """Give ``model`` an engine.TrainingPlan built with the arguments model._plan uses."""
    fused = engine.fused_output(model.layers, model.loss)
    steps = engine.build_steps(model.layers, model.input_dim, model._param_slices, fused,
                               model.seed)
    grads = model.backend.zeros(model.params.shape, model.dtype)
    model.optimizer.build(model.params.size, model.dtype, model.backend)
    kernel = model.loss.logits_kernel if fused else model.loss.train_kernel
    plan = engine.TrainingPlan(model.backend, steps, model.params, grads, kernel,
                               model.optimizer, batch_size,
                               delta=getattr(model.loss, "delta", 1.0))
    plan.fused = fused
    model._train_plan = plan
    return plan


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation, loss_case", COMBOS)
def test_fused_plan_equals_step_by_step_plan_bit_for_bit(activation, loss_case, dtype):
    index = COMBOS.index((activation, loss_case))
    optimizer = OPTIMIZER_NAMES[(3 * index + 1) % len(OPTIMIZER_NAMES)]
    x, y, w = make_data(loss_case, n=45)
    w = w if index % 3 else None
    fused_model = build_model(activation, loss_case, "cpu", optimizer, dtype=dtype)
    step_model = build_model(activation, loss_case, "cpu", optimizer, dtype=dtype)
    step_model.build()
    step_plan = install_step_plan(step_model, 8)
    h_fused = fused_model.fit(x, y, epochs=2, batch_size=8, sample_weight=w, verbose=0)
    h_step = step_model.fit(x, y, epochs=2, batch_size=8, sample_weight=w, verbose=0)
    assert step_model._train_plan is step_plan     # the step plan really ran
    assert type(fused_model._train_plan) is FusedCPUPlan
    for a, b in zip(fused_model.get_weights(), step_model.get_weights()):
        assert np.array_equal(a, b), np.abs(a - b).max()
    for name, slot in fused_model.optimizer.slots.items():
        assert np.array_equal(slot, step_model.optimizer.slots[name]), name
    np.testing.assert_allclose(h_fused.history["loss"], h_step.history["loss"],
                               rtol=1e-13 if dtype == "float64" else 1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("loss_case", list(LOSS_CASES))
def test_fused_plan_equals_step_by_step_plan_with_normalization(loss_case, norm, dtype):
    """The property above on networks with BatchNormalization / LayerNormalization layers
    (their moving statistics included), every loss, with and without sample weights."""
    index = list(LOSS_CASES).index(loss_case)
    optimizer = OPTIMIZER_NAMES[index % len(OPTIMIZER_NAMES)]
    x, y, w = make_data(loss_case, n=45)
    w = w if index % 2 else None
    fused_model = build_model("tanh", loss_case, "cpu", optimizer, dtype=dtype, norm=norm)
    step_model = build_model("tanh", loss_case, "cpu", optimizer, dtype=dtype, norm=norm)
    step_model.build()
    step_plan = install_step_plan(step_model, 8)
    h_fused = fused_model.fit(x, y, epochs=2, batch_size=8, sample_weight=w, verbose=0)
    h_step = step_model.fit(x, y, epochs=2, batch_size=8, sample_weight=w, verbose=0)
    assert step_model._train_plan is step_plan
    assert type(fused_model._train_plan) is FusedCPUPlan
    for a, b in zip(fused_model.get_weights(), step_model.get_weights()):
        assert np.array_equal(a, b), np.abs(a - b).max()
    for name, slot in fused_model.optimizer.slots.items():
        assert np.array_equal(slot, step_model.optimizer.slots[name]), name
    assert h_fused.history["loss"] == h_step.history["loss"]
    assert np.array_equal(fused_model.predict(x), step_model.predict(x))


# ----------------------------------------------------- steady state: no allocations
def _wide_model(n_in=8, width=256):
    model = mlp.Sequential([mlp.Dense(width, activation="relu", input_dim=n_in),
                            mlp.Dropout(0.1),
                            mlp.Dense(1, activation="sigmoid")], seed=0, backend="cpu",
                           dtype="float64")
    model.compile(optimizer=mlp.Adam(1e-3), loss="binary_crossentropy")
    return model


def _peak_of(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_steady_state_epoch_allocates_nothing_per_step():
    batch, width = 16, 256
    peaks = {}
    for n_batches in (10, 100):
        model = _wide_model(width=width)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(batch * n_batches, 8))
        y = (rng.random(batch * n_batches) > 0.5).astype(np.float64)
        model.fit(x, y, epochs=1, batch_size=batch, verbose=0)      # warm up
        plan = model._train_plan
        x_, target, weight = model._prepare(x, y)
        order = np.arange(len(x), dtype=np.int64)
        outputs = np.empty((len(x), 1))
        peaks[n_batches] = _peak_of(
            lambda: plan.train_epoch(x_, target, weight, order, batch, outputs))
        assert model.optimizer.iterations == 2 * n_batches
    workspace = batch * width * 8        # one activation workspace: 32 KiB
    assert peaks[100] < workspace / 8, peaks
    # nothing proportional to the number of steps (a few bytes per step for the learning
    # rates of the epoch are tolerated)
    assert peaks[100] - peaks[10] < 90 * 32, peaks


def test_steady_state_fit_does_not_grow_with_the_number_of_batches():
    batch = 16
    peaks = {}
    for n_batches in (10, 100):
        model = _wide_model()
        rng = np.random.default_rng(0)
        n = batch * n_batches
        x = rng.normal(size=(n, 8))
        y = (rng.random(n) > 0.5).astype(np.float64)
        model.fit(x, y, epochs=1, batch_size=batch, verbose=0)
        peaks[n_batches] = _peak_of(
            lambda: model.fit(x, y, epochs=1, batch_size=batch, verbose=0, shuffle=True))
    # per sample, fit may hold the shuffled order, the recorded outputs and the converted
    # inputs/targets: allow 200 bytes per sample, and nothing per step on top
    extra_samples = batch * 90
    assert peaks[100] - peaks[10] < 200 * extra_samples, peaks


def test_buffers_keep_their_identity_across_fit():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 8))
    y = (rng.random(100) > 0.5).astype(np.float64)
    model = _wide_model(width=16)
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    plan = model._train_plan

    def identities():
        return ([id(model.params), id(plan.params), id(plan.grads), id(plan._c_plan)]
                + [id(a) for a in plan.outputs + plan.output_grads]
                + [id(a) for a in plan.preacts if a is not None]
                + [id(a) for a in plan._workspaces.values()]
                + [id(s) for s in model.optimizer.slots.values()])

    before = identities()
    params_view = model.params
    model.fit(x, y, epochs=3, batch_size=10, verbose=0)
    model.fit(x, y, epochs=1, batch_size=7, verbose=0)       # smaller batch: same plan
    assert model._train_plan is plan
    assert identities() == before
    assert model.params is params_view and plan.params is model.params


def test_validation_does_not_reallocate_the_training_workspaces():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 8))
    y = (rng.random(100) > 0.5).astype(np.float64)
    model = _wide_model(width=16)
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    plan = model._train_plan
    workspaces = [id(a) for a in plan.outputs] + [id(a) for a in plan._workspaces.values()]
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_data=(x, y))
    assert model._train_plan is plan
    assert [id(a) for a in plan.outputs] + [id(a) for a in plan._workspaces.values()] \
        == workspaces
    assert plan.batch_size == 10


# --------------------------------------------------------------- last partial batch
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_last_partial_batch_is_trained_and_recorded(backend):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(33, 3))
    y = (x[:, 0] > 0).astype(np.float64)

    def model_():
        m = mlp.Sequential([mlp.Dense(4, activation="tanh", input_dim=3),
                            mlp.Dense(1, activation="sigmoid")], seed=1, backend=backend,
                           dtype="float64")
        m.compile(optimizer=mlp.SGD(0.5), loss="binary_crossentropy")
        return m

    seen = []

    def recorder(y_true, y_pred, sample_weight=None):
        seen.append((np.array(y_true, copy=True), np.array(y_pred, copy=True)))
        return 0.0

    model = model_()
    model.compile(optimizer=mlp.SGD(0.5), loss="binary_crossentropy", metrics=[recorder])
    first = model_()
    p_first = first.predict(x)                    # outputs before any step
    history = model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 2

    twin = model_()
    l1 = twin.train_on_batch(x[:32], y[:32])
    p_after_one = twin.predict(x[32:])            # the last sample's output, after step 1
    l2 = twin.train_on_batch(x[32:], y[32:])
    assert_models_match(model, twin, rtol=1e-12)
    assert history.history["loss"][0] == pytest.approx((32 * l1 + l2) / 33, rel=1e-12)

    (y_true, y_pred), = seen
    assert y_pred.shape == (33, 1) and np.all(np.isfinite(y_pred))
    np.testing.assert_allclose(y_pred[:32], p_first[:32], rtol=1e-12)
    np.testing.assert_allclose(y_pred[32:], p_after_one, rtol=1e-12)
    np.testing.assert_array_equal(y_true.ravel(), y)


def test_plan_train_epoch_writes_every_output_row():
    model = build_model("relu", "cce_softmax_fused", "cpu", "sgd", dropout=0.0)
    x, y, _ = make_data("cce_softmax_fused", n=33)
    model.build()
    x_, target, weight = model._prepare(x, y)
    plan = model._plan(32)
    outputs = np.full((33, 3), np.nan)
    plan.train_epoch(x_, target, weight, np.arange(33, dtype=np.int64)[::-1].copy(), 32,
                     outputs)
    assert np.all(np.isfinite(outputs))
    assert model.optimizer.iterations == 2


# ------------------------------------------------------------------ reproducibility
def _repro_model(seed, backend="cpu"):
    model = mlp.Sequential([mlp.Dense(12, activation="relu", input_dim=6),
                            mlp.Dropout(0.4),
                            mlp.Dense(8, activation="swish"),
                            mlp.Dropout(0.2),
                            mlp.Dense(3, activation="softmax")], seed=seed, backend=backend)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_same_seed_same_weights_history_and_result():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(70, 6)).astype(np.float32)
    y = rng.integers(0, 3, 70)
    a, b = _repro_model(42), _repro_model(42)
    a.build(), b.build()
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb)
    ha = a.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.2)
    hb = b.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.2)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb)


def test_different_seed_differs():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(70, 6)).astype(np.float32)
    y = rng.integers(0, 3, 70)
    a, b = _repro_model(1), _repro_model(2)
    a.build(), b.build()
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])
    ha = a.fit(x, y, epochs=2, batch_size=16, verbose=0)
    hb = b.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert ha.history["loss"] != hb.history["loss"]


def test_same_seed_same_dropout_on_cpu_and_reference():
    """Dropout masks come from a hash of (seed, step, layer, index): the backends agree."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(70, 6))
    y = rng.integers(0, 3, 70)
    models = []
    for backend in ("cpu", "reference"):
        m = mlp.Sequential([mlp.Dense(12, activation="relu", input_dim=6), mlp.Dropout(0.5),
                            mlp.Dense(3, activation="softmax")], seed=9, backend=backend,
                           dtype="float64")
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        models.append(m)
    assert_models_match(*models)


@pytest.fixture
def restore_threads():
    previous = mlp.get_num_threads()
    yield
    mlp.set_num_threads(previous)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_is_identical_for_any_thread_count(restore_threads, dtype):
    # big enough that GEMMs (>= 4 MFLOP) and dropout (>= 32768 elements) run multi-threaded
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 64))
    y = (rng.random(256) > 0.5).astype(np.float64)
    results = []
    for threads in (1, 2):
        mlp.set_num_threads(threads)
        model = mlp.Sequential([mlp.Dense(512, activation="relu", input_dim=64),
                                mlp.Dropout(0.5),
                                mlp.Dense(256, activation="gelu"),
                                mlp.Dropout(0.3),
                                mlp.Dense(1, activation="sigmoid")], seed=3, dtype=dtype)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=128, verbose=0)
        results.append((history.history["loss"], model.get_weights(), model.predict(x)))
    (h1, w1, p1), (h2, w2, p2) = results
    assert h1 == h2
    for a, b in zip(w1, w2):
        assert np.array_equal(a, b)
    assert np.array_equal(p1, p2)
