"""Freezing (issue 12): ``trainable`` on layers and on the model.

Frozen parameters get no update, no optimizer-state change and no weight decay, on the fused
CPU plan and on the step-by-step plan alike (which stay bit-identical); ``summary()`` counts
trainable and non-trainable parameters; the flag survives saving.
"""
from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp.backends.cpu_plan import FusedCPUPlan
from mlp.regularizers import L1L2
from mlp.training import plan as engine

OPTIMIZERS = {
    "adamw_clipped": lambda: mlp.AdamW(0.01, weight_decay=0.1, clipvalue=0.5,
                                       global_clipnorm=0.3),
    "sgd_momentum_wd": lambda: mlp.SGD(0.05, momentum=0.9, weight_decay=0.01, clipnorm=0.2),
    "rmsprop_centered": lambda: mlp.RMSprop(0.01, centered=True, momentum=0.5),
    "adagrad": lambda: mlp.Adagrad(0.05),
}


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, np.eye(3)[rng.integers(0, 3, n)]


def make_model(optimizer="adamw_clipped", frozen=(0,), backend="cpu", dtype="float64"):
    layers = [mlp.Dense(6, activation="relu", input_dim=4, kernel_regularizer=L1L2(1e-3, 1e-2)),
              mlp.Dropout(0.2),
              mlp.Dense(5, activation="tanh", kernel_regularizer="l2"),
              mlp.Dense(3, activation="softmax")]
    model = mlp.Sequential(layers, seed=4, backend=backend, dtype=dtype)
    dense = [layer for layer in layers if isinstance(layer, mlp.Dense)]
    for index in frozen:
        dense[index].trainable = False
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="categorical_crossentropy")
    return model


def layer_slice(model, layer):
    index = [l for l in model.layers if not isinstance(l, mlp.Input)].index(layer)
    parts = model._param_slices[index]
    return slice(parts[0].start, parts[-1].stop)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("frozen", [(0,), (1,), (0, 2)], ids=["first", "middle", "outer"])
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_frozen_layers_are_bit_identical_after_fit(optimizer, frozen, backend):
    x, y = data()
    model = make_model(optimizer, frozen, backend)
    before = model.get_weights()
    initial = model.optimizer._slot_initial_value()   # the slots do not exist before fit
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    after = model.get_weights()
    dense = [layer for layer in model.layers if isinstance(layer, mlp.Dense)]
    for index, layer in enumerate(dense):
        kernel, bias = 2 * index, 2 * index + 1
        if index in frozen:
            assert np.array_equal(after[kernel], before[kernel])
            assert np.array_equal(after[bias], before[bias])
        else:
            assert not np.array_equal(after[kernel], before[kernel])
    for name, slot in model.optimizer.slots.items():
        for index in frozen:
            part = layer_slice(model, dense[index])
            assert np.all(np.asarray(slot)[part] == initial), name


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_plan_equals_step_plan_with_frozen_layers(optimizer, dtype):
    x, y = data()
    fused = make_model(optimizer, (1,), dtype=dtype)
    step = make_model(optimizer, (1,), dtype=dtype)
    plan_fused = fused._plan(8)
    assert type(plan_fused) is FusedCPUPlan
    steps = engine.build_steps(step.layers, step.input_dim, step._param_slices,
                               engine.fused_output(step.layers, step.loss), step.seed)
    step.optimizer.build(step.params.size, step.dtype, step.backend)
    step._train_plan = engine.TrainingPlan(step.backend, steps, step.params,
                                           np.zeros_like(step.params),
                                           step.loss.logits_kernel, step.optimizer, 8)
    step._train_plan.fused = "softmax"
    h_fused = fused.fit(x, y, epochs=3, batch_size=8, verbose=0)
    h_step = step.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert type(step._train_plan) is engine.TrainingPlan
    for a, b in zip(fused.get_weights(), step.get_weights()):
        assert np.array_equal(a, b), np.abs(a - b).max()
    for name, slot in fused.optimizer.slots.items():
        assert np.array_equal(slot, step.optimizer.slots[name]), name
    np.testing.assert_allclose(h_fused.history["loss"], h_step.history["loss"],
                               rtol=1e-13 if dtype == "float64" else 1e-6)


def test_frozen_regularizer_adds_nothing_to_the_loss():
    x, y = data()
    frozen = make_model(frozen=(0,))
    unregularized = make_model(frozen=(0,))
    unregularized.layers[0].kernel_regularizer = None
    assert frozen.evaluate(x, y)["loss"] == unregularized.evaluate(x, y)["loss"]
    frozen.layers[0].trainable = True
    assert frozen.evaluate(x, y)["loss"] > unregularized.evaluate(x, y)["loss"]


def test_unfreezing_takes_effect_at_the_next_fit():
    x, y = data()
    model = make_model(frozen=(0,))
    before = model.get_weights()[0]
    model.fit(x, y, epochs=1, verbose=0)
    kept = model.get_weights()[0]
    assert np.array_equal(kept, before)
    model.layers[0].trainable = True
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(model.get_weights()[0], kept)


def test_model_trainable_false_freezes_everything():
    x, y = data()
    model = make_model(frozen=())
    model.trainable = False
    assert all(not layer.trainable for layer in model.layers)
    before = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(before, model.get_weights()):
        assert np.array_equal(a, b)


def test_summary_counts_trainable_and_non_trainable_params():
    model = make_model(frozen=(1,))
    lines = []
    model.summary(print_fn=lines.append)
    frozen = 6 * 5 + 5
    total = model.count_params()
    assert f"Total params: {total:,}" in lines
    assert f"Trainable params: {total - frozen:,}" in lines
    assert f"Non-trainable params: {frozen:,}" in lines
    model.trainable = False
    lines.clear()
    model.summary(print_fn=lines.append)
    assert f"Non-trainable params: {total:,}" in lines and "Trainable params: 0" in lines


def test_trainable_is_saved_and_loaded(tmp_path):
    model = make_model(frozen=(0,))
    model.save(tmp_path / "frozen.mlp")
    loaded = mlp.load_model(tmp_path / "frozen.mlp")
    assert [getattr(layer, "trainable") for layer in loaded.layers] == [False, True, True, True]


def test_trainable_must_be_a_bool():
    with pytest.raises(TypeError, match="trainable: expected True or False, got 'no'"):
        mlp.Dense(2, trainable="no")
