"""mlp: multilayer perceptrons with a Keras-style API on Cython/OpenMP kernels.

The public API is re-exported here; see ``mlp.show_config()`` for the build in use.

Examples
--------
>>> import mlp
>>> model = mlp.Sequential([mlp.Dense(16, activation="relu", input_dim=4),
...                         mlp.Dense(1, activation="sigmoid")], seed=0)
>>> model.compile(optimizer=mlp.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
"""
from . import (activations, callbacks, data, datasets, initializers, losses, metrics,
               optimizers, plotting, regularizers, schedules)
from ._config import show_config
from ._version import __version__
from ._threading import get_num_threads, set_num_threads
from .backends import get_backend, set_backend, use_backend
from .io import load_model
from .training.callbacks import (CSVLogger, Callback, EarlyStopping, History, LambdaCallback,
                                 LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
                                 TerminateOnNaN)
from .data import (KFold, LabelEncoder, MinMaxScaler, SimpleImputer, StandardScaler,
                   StratifiedKFold, cross_validate, one_hot, to_categorical, train_test_split)
from .nn.layers import Activation, Dense, Dropout, GaussianNoise, Input
from .nn.normalization import BatchNormalization, LayerNormalization
from .metrics import classification_report, confusion_matrix
from .model import Sequential, clone_model, set_random_seed
from .optim.optimizers import SGD, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop
from .nn.perceptron import Perceptron
from .plotting import plot_confusion_matrix, plot_history

__all__ = [
    "CSVLogger", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
    "ReduceLROnPlateau", "TerminateOnNaN", "clone_model", "set_random_seed",
    "classification_report", "confusion_matrix", "plot_confusion_matrix", "plot_history",
    "plotting",
    "KFold", "LabelEncoder", "MinMaxScaler", "SimpleImputer", "StandardScaler", "StratifiedKFold",
    "cross_validate", "data", "datasets", "one_hot", "to_categorical", "train_test_split",
    "Activation", "activations", "BatchNormalization", "LayerNormalization", "Adagrad", "Adam", "Adamax", "AdamW", "Nadam", "Callback",
    "Dense", "Dropout", "EarlyStopping", "GaussianNoise",
    "History", "Input", "Perceptron", "RMSprop", "SGD", "Sequential", "__version__", "callbacks",
    "get_backend", "get_num_threads", "initializers", "load_model", "losses", "metrics", "optimizers",
    "regularizers", "schedules", "set_backend", "set_num_threads", "show_config", "use_backend",
]
