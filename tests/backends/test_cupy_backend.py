"""The ``cupy`` backend (issue 6): kernels against the NumPy reference, CPU-vs-GPU agreement, the
backend switch in every form, save / load across backends, and the errors without CuPy or a GPU.

Three kinds of tests live here:

* **Everywhere** (no GPU needed): importing :mod:`mlp` never imports CuPy; asking for ``cupy``
  without CuPy, with a CuPy that fails to load, or without a GPU raises
  :class:`~mlp.backends.BackendUnavailableError` naming the cause; the backend class has the
  interface's signatures.
* **On a GPU** (``device == "cupy"``): the kernel suite of
  ``tests/kernels/test_cpu_vs_reference.py`` re-run with the cupy backend in place of ``cpu``,
  plus device-array and model-level tests. They
  skip with the reason when CuPy or a GPU is missing.
* **Emulated** (``device == "emulated"``): the same tests with a stand-in ``cupy`` module that
  compiles each ``ElementwiseKernel`` / ``ReductionKernel`` / ``RawKernel`` of the backend as
  C++ with a small CUDA shim (CUDA threads as coroutines, ``__syncthreads`` a yield) and runs
  it on the CPU. This checks the kernels' arithmetic, indexing, reductions and argument order on a
  machine without a GPU; it cannot check what only real hardware shows (NVRTC quirks, warp
  scheduling, cuBLAS, CuPy's own API). Skipped when no C++ compiler is found.
  The emulator is ``tests/cupy_emulator.py``; it is also a value of the ``backend`` fixture
  (``tests/conftest.py``), so the backend suite runs on it as on every other backend.

Model-level tests need the model to keep device arrays (``Sequential.predict(...,
return_device_array=True)``); they skip with that reason until the model supports it.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp import backends
from mlp.backends import ALL_BACKENDS, BackendUnavailableError, get_backend
from mlp.backends.base import ACTIVATIONS, HASH_STEP, LOSSES, Backend

from cupy_emulator import (
    HostAdapter,
    compiler,
    emulated_backend,
    gpu_status,
    model_keeps_device_arrays,
)

HERE = Path(__file__).resolve().parents[1]  # tests/
_MISSING = object()


# =========================================================================== the kernel suite
def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def kernel_suite():
    """A private copy of ``tests/kernels/test_cpu_vs_reference.py`` whose ``CPU`` we replace."""
    helpers = _load("mlp_cupy_suite_helpers", HERE / "kernels" / "conftest.py")
    saved = sys.modules.get("conftest", _MISSING)
    sys.modules["conftest"] = helpers
    try:
        return _load("mlp_cupy_suite", HERE / "kernels" / "test_cpu_vs_reference.py")
    finally:
        if saved is _MISSING:
            sys.modules.pop("conftest", None)
        else:
            sys.modules["conftest"] = saved


class Device:
    """One way of running the cupy backend: on the GPU, or emulated on the CPU."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "cupy":
            ok, why = gpu_status()
            if not ok:
                pytest.skip(f"cupy backend on a GPU: {why}")
            import cupy

            self.cp = cupy
            self.backend = get_backend("cupy")
            self.module = sys.modules["mlp.backends.cupy"]
        else:
            if not compiler():
                pytest.skip("emulated cupy backend: no C++ compiler (g++ / c++) found")
            self.module, self.backend = emulated_backend()
            self.cp = self.module.cp
        self.adapter = HostAdapter(self.backend, self.cp.asarray, self.cp.asnumpy)

    def suite(self):
        """The kernel suite with this backend behind its ``CPU`` name."""
        suite = kernel_suite()
        suite.CPU = self.adapter
        return suite

    def host(self, x) -> np.ndarray:
        return self.cp.asnumpy(x)

    def dev(self, x):
        return self.cp.asarray(x)


@pytest.fixture(scope="module", params=["cupy", "emulated"])
def device(request):
    return Device(request.param)


@pytest.fixture
def gpu():
    """The real cupy backend (skips with the reason without CuPy or a GPU)."""
    pytest.importorskip("cupy", reason="CuPy is not installed")
    return Device("cupy")


# =========================================================================== everywhere
def test_cupy_is_a_known_backend_name():
    assert "cupy" in ALL_BACKENDS
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'.*'cupy'"):
        get_backend("tpu")


def test_importing_mlp_does_not_import_cupy():
    code = ("import sys, numpy as np, mlp\n"
            "m = mlp.Sequential([mlp.Dense(2, input_dim=3)], seed=0)\n"
            "m.predict(np.zeros((1, 3), 'float32'))\n"
            "import mlp.backends.cupy\n"
            "loaded = sorted(n for n in sys.modules if n == 'cupy' or n.startswith('cupy.'))\n"
            "print(loaded)\n")
    env = dict(os.environ)
    env.pop("MLP_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"importing mlp imported {out.stdout.strip()}"


def test_backend_class_has_the_interface_signatures():
    """Checked on the class, so it runs without CuPy: every interface method, same parameters
    and defaults, nothing left abstract."""
    module = importlib.import_module("mlp.backends.cupy")
    cls = module.CupyBackend
    assert not getattr(cls, "__abstractmethods__", ())
    for name in Backend.__abstractmethods__:
        base = inspect.signature(getattr(Backend, name))
        mine = inspect.signature(getattr(cls, name))
        assert [(p.name, p.kind, p.default) for p in mine.parameters.values()] == [
            (p.name, p.kind, p.default) for p in base.parameters.values()], name


def test_kernel_constants_match_the_base_spec():
    module = importlib.import_module("mlp.backends.cupy")
    assert list(module.LOSS_CODES) == list(LOSSES)
    assert set(module.ACTIVATION_CODES) == set(ACTIVATIONS)
    source = inspect.getsource(module._dropout_kernel)
    assert "HASH_STEP" in source and HASH_STEP == 0x9E3779B97F4A7C15
    sources = importlib.import_module("mlp.backends.cuda_sources")
    assert "0xBF58476D1CE4E5B9ULL" in sources.HASH and "0x94D049BB133111EBULL" in sources.HASH
    assert "5.9604644775390625e-08" in source and 5.9604644775390625e-08 == 2.0 ** -24


@pytest.fixture
def fresh_registry(monkeypatch):
    """Forget created backends and any global default, so a cupy request really happens."""
    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.setattr(backends, "_global_default", None)
    monkeypatch.delenv("MLP_BACKEND", raising=False)
    monkeypatch.setattr(importlib.import_module("mlp.backends.cupy"), "cp", None)


def _every_request():
    """Each way a user asks for the cupy backend."""
    return {
        "get_backend": lambda: get_backend("cupy"),
        "set_backend": lambda: mlp.set_backend("cupy"),
        "use_backend": lambda: mlp.use_backend("cupy").__enter__(),
        "Sequential(backend=...)": lambda: mlp.Sequential([mlp.Dense(1, input_dim=2)],
                                                          backend="cupy"),
        "model.to": lambda: mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0,
                                           backend="cpu").to("cupy"),
    }


@pytest.mark.parametrize("request_form", list(_every_request()))
def test_without_cupy_the_error_says_cupy_is_not_installed(fresh_registry, monkeypatch,
                                                          request_form):
    monkeypatch.setitem(sys.modules, "cupy", None)  # "import cupy" now fails as if not installed
    with pytest.raises(BackendUnavailableError, match=r"CuPy is not installed.*pip install") as e:
        _every_request()[request_form]()
    assert e.value.reason == "not-installed"
    assert mlp.get_backend().name == "cpu"  # a failed switch leaves the default alone


def _fake_cupy_without_gpu(count=0, error=None):
    def device_count():
        if error is not None:
            raise error
        return count

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count))
    return fake


class CUDARuntimeError(RuntimeError):
    """Like ``cupy_backends.cuda.api.runtime.CUDARuntimeError``."""


@pytest.mark.parametrize("request_form", list(_every_request()))
@pytest.mark.parametrize("fake", [
    _fake_cupy_without_gpu(count=0),
    _fake_cupy_without_gpu(error=CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device "
                                                  "is detected")),
], ids=["zero-devices", "runtime-error"])
def test_without_a_gpu_the_error_says_no_gpu(fresh_registry, monkeypatch, request_form, fake):
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendUnavailableError,
                       match=r"CuPy is installed but no CUDA GPU is visible") as e:
        _every_request()[request_form]()
    assert e.value.reason == "no-gpu"
    assert "not installed" not in str(e.value)


class _BrokenCupyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a ``cupy`` whose import fails as when the CUDA libraries are missing."""

    def find_spec(self, name, path=None, target=None):
        if name == "cupy":
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("libcudart.so.12: cannot open shared object file")


def test_a_cupy_that_fails_to_load_is_named(fresh_registry, monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenCupyFinder()] + sys.meta_path)
    with pytest.raises(BackendUnavailableError, match=r"CuPy is installed but failed to import.*"
                                                      r"libcudart") as e:
        get_backend("cupy")
    assert e.value.reason == "import-failed"


def test_environment_variable_without_cupy_names_the_cause():
    """``MLP_BACKEND=cupy`` where CuPy cannot be imported: a clear error at first use."""
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import mlp\n"
            "mlp.Sequential([mlp.Dense(1, input_dim=2)])\n")
    env = dict(os.environ, MLP_BACKEND="cupy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode != 0
    assert "BackendUnavailableError" in out.stderr
    assert "CuPy is not installed" in out.stderr


def test_available_backends_lists_cupy_only_with_a_gpu(fresh_registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert backends.available_backends() == ("cpu", "reference")
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy_without_gpu(count=0))
    assert "cupy" not in backends.available_backends()


def test_emulated_cupy_is_not_the_real_module():
    """The emulation never leaks into the real backend module or into ``sys.modules``."""
    if not compiler():
        pytest.skip("no C++ compiler for the emulated kernels")
    module, backend = emulated_backend()
    assert module is not sys.modules.get("mlp.backends.cupy")
    assert getattr(sys.modules.get("cupy"), "__version__", None) != "emulated"
    assert backend.name == "cupy"


# =========================================================================== the kernel suite
PROPERTY_TESTS = [
    "test_matmul",
    "test_activation_forward",
    "test_activation_backward",
    "test_dense_forward",
    "test_dense_backward",
    "test_loss",
    "test_penalty_and_its_gradient",
    "test_global_norm",
    "test_scale_and_clip",
    "test_dropout_mask_is_bit_identical",
    "test_dropout_forward_and_backward_are_bit_identical",
    "test_batch_norm_forward",
    "test_batch_norm_backward",
    "test_layer_norm_forward",
    "test_layer_norm_backward",
]
"""Hypothesis tests of the kernel suite: random shapes (batch 1, width 1, odd sizes), both dtypes,
every memory layout, every activation / loss, in-place and allocating calls."""


@pytest.mark.parametrize("test_name", PROPERTY_TESTS)
def test_kernel_suite_properties(device, test_name):
    calls = device.adapter.calls
    getattr(device.suite(), test_name)()
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("m, k, n", [(64, 784, 128), (300, 257, 129), (1, 784, 128),
                                     (64, 784, 1), (33, 65, 17)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_fixed_shapes(device, m, k, n, dtype):
    suite = device.suite()
    device.adapter.calls = 0
    for trans_a in (False, True):
        for trans_b in (False, True):
            suite.test_matmul_fixed_shapes(m, k, n, dtype, trans_a, trans_b)
    assert device.adapter.calls >= 4, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch, inputs, units", [(64, 784, 128), (128, 512, 10), (1, 17, 1),
                                                  (300, 257, 129)])
def test_dense_fixed_shapes(device, batch, inputs, units, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    for activation in ("relu", "softmax", "gelu", "swish"):
        suite.test_dense_forward_fixed_shapes(batch, inputs, units, dtype, activation)
        suite.test_dense_backward_fixed_shapes(batch, inputs, units, dtype, activation)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_extreme_and_large(device, activation, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    suite.test_activations_on_extreme_values(activation, dtype)
    suite.test_activations_on_large_arrays(activation, dtype)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LOSSES)
def test_losses_many_rows_and_extremes(device, name, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    suite.test_loss_on_many_rows(name, dtype)
    suite.test_loss_on_extreme_values(name, dtype)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


def _optimizer_cases():
    suite = kernel_suite()
    return [pytest.param(kind, hyper, id=f"{kind}-{'-'.join(hyper)}")
            for kind, hyper in suite.OPTIMIZERS]


@pytest.mark.parametrize("size", [1, 17, 40001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind, hyper", _optimizer_cases())
def test_optimizer_updates(device, kind, hyper, dtype, size):
    calls = device.adapter.calls
    device.suite().test_optimizer_update(kind, hyper, dtype, size)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_large_and_rate(device, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    suite.test_dropout_on_a_large_array(dtype)
    suite.test_dropout_drops_about_rate()
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


# =========================================================================== device arrays
@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_array_helpers(device, dtype):
    backend, cp = device.backend, device.cp
    host = np.asfortranarray(np.arange(15, dtype=np.float64).reshape(3, 5) / 7)
    got = backend.asarray(host, dtype=dtype)
    assert isinstance(got, cp.ndarray) and got.flags.c_contiguous
    assert got.dtype == (np.float64 if dtype is None else dtype)
    np.testing.assert_array_equal(backend.to_numpy(got), host.astype(got.dtype))
    assert type(backend.to_numpy(got)) is np.ndarray
    assert backend.asarray(got) is got  # already there: no copy
    for allocate in (backend.empty, backend.zeros):
        array = allocate((4, 3), np.float32)
        assert isinstance(array, cp.ndarray) and array.shape == (4, 3)
        assert array.dtype == np.float32 and array.flags.c_contiguous
    assert not backend.to_numpy(backend.zeros((2, 5), np.float64)).any()


def test_host_buffers_are_refused_with_a_clear_error(device):
    backend = device.backend
    z = backend.asarray(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"out: expected a CuPy array .* NumPy"):
        backend.activation_forward(z, "relu", out=np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"param: expected a 1-D C-contiguous CuPy array"):
        backend.sgd_update(np.ones(3, np.float32), np.ones(3, np.float32), None, lr=0.1)
    with pytest.raises(ValueError, match=r"out: required when beta"):
        backend.matmul(z, z, trans_b=True, beta=1.0)


def test_ops_return_device_arrays_and_accept_host_inputs(device):
    backend, cp = device.backend, device.cp
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    y = backend.dense_forward(x, w, None, "tanh")
    assert isinstance(y, cp.ndarray)
    np.testing.assert_allclose(device.host(y), np.tanh(x @ w), rtol=1e-5, atol=1e-6)
    value, grad = backend.loss("mean_squared_error", y, np.zeros((5, 3), np.float32))
    assert isinstance(value, float) and isinstance(grad, cp.ndarray)
    on_device, _ = backend.loss_on_device("mean_squared_error", y, np.zeros((5, 3), np.float32))
    assert isinstance(on_device, cp.ndarray) and on_device.shape == ()
    assert float(on_device) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_and_gpu_dropout_masks_are_identical(device, dtype):
    """Same (seed, step, layer) -> the same mask, bit for bit, CPU and GPU."""
    cpu = get_backend("cpu")
    for seed, step, layer in [(0, 0, 0), (12345, 1, 2), (2**63 + 5, 2**40, 7),
                              (2**64 - 1, 2**64 - 1, 1000)]:
        for rate in (0.1, 0.5, 0.9):
            expected = cpu.dropout_mask((67, 129), rate, seed, step, layer, dtype)
            got = device.host(device.backend.dropout_mask((67, 129), rate, seed, step, layer,
                                                          dtype))
            np.testing.assert_array_equal(got, expected)
    x = np.random.default_rng(1).standard_normal((64, 1000)).astype(dtype)
    np.testing.assert_array_equal(
        device.host(device.backend.dropout_forward(device.dev(x), 0.3, 7, 3, 1)),
        cpu.dropout_forward(x, 0.3, 7, 3, 1))


def test_kernels_are_compiled_once(device):
    backend, module = device.backend, device.module
    z = backend.asarray(np.ones((3, 4), np.float32))
    backend.activation_forward(z, "relu")
    backend.activation_forward(z, "elu")
    count = len(module._elementwise)
    kernel = module._elementwise["mlp_act_forward"]
    backend.activation_forward(z, "gelu")
    assert len(module._elementwise) == count and module._elementwise["mlp_act_forward"] is kernel
    backend.activation_forward(z, "softmax")
    backend.activation_forward(backend.asarray(np.ones((3, 4))), "softmax")
    raws = dict(module._raw)
    backend.activation_forward(z, "softmax")
    assert dict(module._raw) == raws


def test_loss_labels_out_of_range_never_read_out_of_bounds(device):
    """A bad class index gives NaN (validation upstream gives the user a clear error), never a
    read or write outside the rows."""
    backend = device.backend
    pred = backend.asarray(np.zeros((3, 4), np.float32))
    for name in ("categorical_crossentropy", "categorical_crossentropy_from_logits"):
        value, grad = backend.loss(name, pred, np.array([0, 4, -1]))
        assert math.isnan(value)
        assert np.isfinite(device.host(grad)).all()


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_with_rows_but_no_columns_matches_the_reference(device, name, weighted):
    """rows > 0, cols == 0 (issue 14): no kernel runs, so the per-row losses must not be read
    from an uninitialised buffer; the value is what the reference computed before the host
    backends began refusing such shapes (issue 15): NaN for a mean over no outputs, 0 for a sum
    over none; NaN for class indices, which are all out of range."""
    pred = np.zeros((3, 0), np.float32)
    weight = np.array([1.0, 2.0, 0.5], np.float32) if weighted else None
    targets = [np.zeros((3, 0), np.float32)]
    if name.startswith("categorical"):
        targets.append(np.array([0, 0, 0]))
    for host in ("cpu", "reference"):
        with pytest.raises(ValueError, match="^pred: expected at least one row and one column"):
            get_backend(host).loss(name, pred, targets[0], weight)
    for target in targets:
        if target.ndim == 1:  # a class index never fits in no classes: NaN, as out of range
            expected = math.nan
        elif name.startswith("categorical"):
            expected = 0.0  # a sum over no outputs
        else:
            expected = math.nan  # a mean over no outputs
        for _ in range(3):  # a fresh (uninitialised) buffer each time
            value, grad = device.backend.loss(name, device.dev(pred), device.dev(target),
                                              None if weight is None else device.dev(weight))
            assert device.host(grad).shape == (3, 0)
            np.testing.assert_equal(value, expected, err_msg=f"{name}, target {target.shape}")


def test_grad_sharing_memory_with_an_input_is_refused(device):
    """The loss kernel reads pred / target after writing grad (issue 14): aliasing is refused."""
    backend = device.backend
    pred = backend.asarray(np.full((4, 3), 0.25, np.float32))
    target = backend.asarray(np.eye(4, 3, dtype=np.float32))
    for name in ("categorical_crossentropy_from_logits", "mean_squared_error"):
        with pytest.raises(ValueError, match=r"grad: must not share memory with pred"):
            backend.loss(name, pred, target, grad=pred)
        with pytest.raises(ValueError, match=r"grad: must not share memory with target"):
            backend.loss(name, pred, target, grad=target)
    both = backend.asarray(np.zeros((8, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad: must not share memory with pred"):
        backend.loss("mean_squared_error", both[:4], target, grad=both[2:6])
    value, grad = backend.loss("mean_squared_error", both[:4], target, grad=both[4:])
    expected_value, expected_grad = get_backend("reference").loss(
        "mean_squared_error", np.zeros((4, 3), np.float32), np.eye(4, 3, dtype=np.float32))
    assert value == pytest.approx(expected_value, rel=1e-6)
    np.testing.assert_allclose(device.host(both[4:]), expected_grad, rtol=1e-6)


# =========================================================================== models
needs_model_support = pytest.mark.skipif(
    not model_keeps_device_arrays(),
    reason="the model does not keep device arrays yet (Sequential.predict has no "
           "return_device_array; see the model.py / engine.py changes of issue 6)")


@pytest.fixture
def on_device(device, monkeypatch):
    """Make ``get_backend("cupy")`` hand out this device's backend (the emulated one too)."""
    monkeypatch.setitem(backends._instances, "cupy", device.backend)
    monkeypatch.setattr(backends, "_global_default", None)
    monkeypatch.delenv("MLP_BACKEND", raising=False)
    return device


def _data(n=96, features=6, classes=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(dtype)
    y = (x[:, :classes] + 0.1 * rng.standard_normal((n, classes))).argmax(axis=1)
    return x, y


def _model(backend, dtype="float32", seed=3, features=6, classes=3):
    model = mlp.Sequential([mlp.Dense(16, activation="relu", input_dim=features),
                            mlp.Dropout(0.25),
                            mlp.Dense(8, activation="tanh"),
                            mlp.Dense(classes, activation="softmax")],
                           seed=seed, dtype=dtype, backend=backend)
    model.compile(optimizer=mlp.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@needs_model_support
def test_switch_in_every_form(on_device):
    assert mlp.Sequential([mlp.Dense(1, input_dim=2)], backend="cupy").backend.name == "cupy"
    with mlp.use_backend("cupy"):
        assert mlp.Sequential([mlp.Dense(1, input_dim=2)]).backend.name == "cupy"
    assert mlp.Sequential([mlp.Dense(1, input_dim=2)]).backend.name == "cpu"
    try:
        mlp.set_backend("cupy")
        model = mlp.Sequential([mlp.Dense(1, input_dim=2)])
    finally:
        mlp.set_backend("cpu")
    assert model.backend.name == "cupy"  # the model keeps its backend
    moved = mlp.Sequential([mlp.Dense(2, input_dim=3)], seed=0, backend="cpu")
    before = moved.predict(np.ones((2, 3), np.float32))
    assert moved.to("cupy") is moved and moved.backend.name == "cupy"
    assert isinstance(moved.params, on_device.cp.ndarray)
    np.testing.assert_allclose(moved.predict(np.ones((2, 3), np.float32)), before, rtol=1e-6)
    assert [w.shape for w in moved.get_weights()] == [(3, 2), (2,)]
    assert all(type(w) is np.ndarray for w in moved.get_weights())


def test_environment_variable_selects_cupy(gpu):
    code = ("import mlp\n"
            "m = mlp.Sequential([mlp.Dense(1, input_dim=2)])\n"
            "print(mlp.get_backend().name, m.backend.name)\n")
    env = dict(os.environ, MLP_BACKEND="cupy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cupy", "cupy"]


@needs_model_support
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 2e-3)])
def test_cpu_and_gpu_training_agree(on_device, dtype, rtol):
    """Same seed on both backends: same dropout masks, so the same weights and history up to
    floating-point rounding (float32 tolerance for float32)."""
    x, y = _data(dtype=np.dtype(dtype))
    runs = {}
    for backend in ("cpu", "cupy"):
        model = _model(backend, dtype=dtype)
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=True)
        runs[backend] = (model.get_weights(), history.history, model.predict(x))
    for got, expected in zip(runs["cupy"][0], runs["cpu"][0]):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    for key, values in runs["cpu"][1].items():
        # an accuracy may move by a sample whose probability sits at a class boundary
        atol = 2.5 / len(x) if "accuracy" in key and dtype == "float32" else rtol
        np.testing.assert_allclose(runs["cupy"][1][key], values, rtol=rtol, atol=atol,
                                   err_msg=key)
    np.testing.assert_allclose(runs["cupy"][2], runs["cpu"][2], rtol=rtol, atol=rtol)


@needs_model_support
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 2e-3)])
def test_cpu_and_gpu_agree_with_normalization_layers(on_device, dtype, rtol, tmp_path):
    """BatchNormalization (one frozen, in inference mode) and LayerNormalization through the
    step-by-step plan on the GPU: the weights, moving statistics included, the history and the
    predictions of the CPU's fused plan; a GPU model saved loads on the CPU exactly."""
    x, y = _data(dtype=np.dtype(dtype))
    runs = {}
    for backend in ("cpu", "cupy"):
        frozen = mlp.BatchNormalization(momentum=0.9, trainable=False)
        model = mlp.Sequential([mlp.BatchNormalization(input_dim=6, momentum=0.9),
                                mlp.Dense(16), frozen, mlp.Activation("relu"),
                                mlp.LayerNormalization(), mlp.Dense(3, activation="softmax")],
                               seed=3, dtype=dtype, backend=backend)
        model.compile(optimizer=mlp.Adam(1e-2), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=True)
        runs[backend] = (model, model.get_weights(), history.history, model.predict(x))
    for got, expected in zip(runs["cupy"][1], runs["cpu"][1]):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(runs["cupy"][2]["loss"], runs["cpu"][2]["loss"], rtol=rtol)
    np.testing.assert_allclose(runs["cupy"][3], runs["cpu"][3], rtol=rtol, atol=rtol)
    gpu_model = runs["cupy"][0]
    assert not np.array_equal(gpu_model.layers[0].get_weights()[2], np.zeros(6))
    path = tmp_path / "bn.mlp"
    gpu_model.save(path)
    on_cpu = mlp.load_model(path, backend="cpu")
    for a, b in zip(on_cpu.get_weights(), gpu_model.get_weights()):
        assert np.array_equal(a, b)


@needs_model_support
def test_predict_returns_numpy_unless_asked(on_device):
    x, y = _data()
    model = _model("cupy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    out = model.predict(x)
    assert type(out) is np.ndarray and out.shape == (len(x), 3)
    on_gpu = model.predict(x, return_device_array=True)
    assert isinstance(on_gpu, on_device.cp.ndarray)
    np.testing.assert_array_equal(on_device.host(on_gpu), out)


@needs_model_support
def test_fit_evaluate_predict_accept_device_arrays(on_device):
    x, y = _data()
    model = _model("cupy")
    xd, yd = on_device.dev(x), on_device.dev(y)
    model.fit(xd, yd, epochs=2, batch_size=16, verbose=0, validation_data=(xd, yd))
    logs = model.evaluate(xd, yd)
    assert set(logs) == {"loss", "accuracy"} and math.isfinite(logs["loss"])
    np.testing.assert_allclose(model.predict(xd), model.predict(x), rtol=1e-6)


@needs_model_support
def test_device_arrays_on_a_cpu_model_give_a_clear_error(on_device):
    x, y = _data()
    model = _model("cpu")
    with pytest.raises((TypeError, ValueError), match=r"(?i)gpu|cupy|device"):
        model.fit(on_device.dev(x), y, epochs=1, verbose=0)
    with pytest.raises((TypeError, ValueError), match=r"(?i)gpu|cupy|device"):
        model.predict(on_device.dev(x))


@needs_model_support
@pytest.mark.parametrize("trained_on, loaded_on", [("cupy", "cpu"), ("cpu", "cupy")])
def test_save_on_one_backend_load_on_the_other(on_device, tmp_path, trained_on, loaded_on):
    x, y = _data()
    model = _model(trained_on)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.mlp"
    model.save(path)
    loaded = mlp.load_model(path, backend=loaded_on)
    assert loaded.backend.name == loaded_on
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)
    # training continues from the saved optimizer state on the new backend
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)
