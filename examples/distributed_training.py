"""Data-parallel training over MPI: one training shared by several processes.

Run with ``mpirun -n 2 python examples/distributed_training.py`` (or ``-n 4`` on a larger
machine); ``python examples/distributed_training.py`` runs it as a single rank. Needs
``pip install "mlp-engine[mpi]"``.

Every rank loads the same data and builds the same model; ``fit`` gives each rank its shard of
every global batch of ``ranks x 32`` images and sums the gradients over the ranks, so the
weights stay identical everywhere (:mod:`mlp.distributed`). Only rank 0 prints and saves.
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import os
import tempfile

import numpy as np

import mlp
import mlp.distributed
from mlp.data import StandardScaler, train_test_split
from mlp.datasets import load_digits

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
group = mlp.distributed.init()          # the ranks of mpirun (one without it)
say = print if group.is_root else (lambda *args, **kwargs: None)

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(digits.data, digits.target, test_size=0.2,
                                                    stratify=digits.target, seed=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
say(f"{group.size} rank(s), {mlp.get_num_threads()} thread(s) each; "
    f"global batch {group.size * 32} images")

model = mlp.Sequential([mlp.Dense(64, activation="relu", input_dim=64), mlp.Dropout(0.1),
                        mlp.Dense(10, activation="softmax")], seed=0)
model.compile(optimizer=mlp.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(X_train, y_train, batch_size=32, epochs=5 if QUICK else 60,
                    validation_split=0.2, verbose=0,
                    callbacks=[mlp.EarlyStopping(patience=10, restore_best_weights=True)])
say(f"trained {len(history.history['loss'])} epochs; "
    f"final validation accuracy {history.history['val_accuracy'][-1]:.4f}")

accuracy = float(np.mean(model.predict(X_test).argmax(axis=1) == y_test))
say(f"test accuracy: {accuracy:.4f}")
path = os.path.join(tempfile.mkdtemp(), "digits.mlp")
model.save(path)                          # rank 0 writes; the other ranks do nothing
if group.is_root:
    say(f"saved by rank 0: {os.path.exists(path)}")
