"""The data and models of the distributed tests, built alike by the test (one process) and by
every rank of :mod:`mpi_worker`."""
from typing import Any, Dict, Tuple

import numpy as np

import mlp


def build_case(case: Dict[str, Any], rank: int = 0, single: bool = False) -> Tuple[Any, dict]:
    """``(model, fit keyword arguments)`` of a case. ``single=True``: the one-process
    equivalent, whose batch is ``ranks x batch_size``."""
    rng = np.random.default_rng(case.get("data_seed", 0))
    rows, features, classes = case["rows"], case.get("features", 5), case.get("classes", 1)
    dtype = np.dtype(case.get("dtype", "float64"))
    x = rng.normal(size=(rows, features))
    if case.get("different_data_on_rank") == rank:
        x = x + 1.0
    if classes == 1:
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
        out, loss = mlp.Dense(1, activation="sigmoid"), "binary_crossentropy"
    else:
        y = np.argmax(x[:, :classes] + 0.3 * rng.normal(size=(rows, classes)), axis=1)
        out, loss = mlp.Dense(classes, activation="softmax"), (
            "sparse_categorical_crossentropy")
    layers = [mlp.Dense(case.get("hidden", 8), activation="relu", input_dim=features)]
    if case.get("dropout"):
        layers.append(mlp.Dropout(case["dropout"]))
    if case.get("layernorm"):
        layers.append(mlp.LayerNormalization())
    if case.get("batchnorm"):
        layers.append(mlp.BatchNormalization())
    if case.get("noise"):
        layers.append(mlp.GaussianNoise(case["noise"]))
    layers += [mlp.Dense(case.get("hidden", 8), activation="tanh",
                                kernel_regularizer=mlp.regularizers.l2(1e-3)), out]
    seed = case.get("seed", 3)
    model = mlp.Sequential(layers, seed=None if seed == "none" else seed, dtype=dtype)
    rate = case.get("learning_rates", [0.01])[rank % len(case.get("learning_rates", [0.01]))]
    optimizer = {"adam": mlp.optimizers.Adam(learning_rate=rate),
                 "sgd": mlp.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
                 "rmsprop": mlp.optimizers.RMSprop(learning_rate=0.005)}[case.get("optimizer",
                                                                                  "adam")]
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    ranks = case["ranks"]
    fit = dict(x=x.astype(dtype), y=y, batch_size=case["batch_size"] * (ranks if single else 1),
               epochs=case.get("epochs", 3), shuffle=case.get("shuffle", True), verbose=0)
    if case.get("sample_weight"):
        fit["sample_weight"] = rng.uniform(0.2, 2.0, size=rows)
    if case.get("class_weight"):
        fit["class_weight"] = {c: 1.0 + c for c in range(max(classes, 2))}
    if case.get("validation"):
        xv = rng.normal(size=(37, features)).astype(dtype)
        yv = (xv[:, 0] > 0).astype(float) if classes == 1 else np.argmax(xv[:, :classes], 1)
        fit["validation_data"] = (xv, yv)
    if case.get("permuted_on_rank") == rank:
        order = np.random.default_rng(99).permutation(rows)
        fit["x"], fit["y"] = fit["x"][order], fit["y"][order]
    # callbacks on every rank, or (the Horovod habit) on rank 0 only: rank 0 decides for all
    on_root = case.get("callbacks_on") == "root"
    callbacks = []
    if case.get("early_stopping") and (rank == 0 or not on_root):
        callbacks.append(mlp.callbacks.EarlyStopping(monitor="val_loss", patience=1,
                                                     min_delta=case["early_stopping"],
                                                     restore_best_weights=True,
                                                     verbose=case.get("verbose", 0)))
    if case.get("reduce_lr") and (rank == 0 or not on_root):
        callbacks.append(mlp.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5,
                                                         patience=0, min_delta=1e9))
    if case.get("csv_logger"):
        callbacks.append(mlp.callbacks.CSVLogger(case["csv_logger"]))
    if callbacks:
        fit["callbacks"] = callbacks
    fit["verbose"] = case.get("verbose", 0)
    return model, fit
