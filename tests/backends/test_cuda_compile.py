"""Every CUDA source the ``cupy`` backend can generate, compiled with NVRTC, without a GPU.

The kernels are those that :func:`mlp.backends.cupy.every_kernel` creates (each optimizer and
activation variant, the reductions, the RawKernels for each dtype) through the backend's own
factories, run here against a recording stand-in for ``cupy``. Each ``ElementwiseKernel`` /
``ReductionKernel`` is turned into the CUDA C that CuPy 14 writes for it (``tests/cuda_compile.py``)
for each dtype, each argument layout the backend uses (1-D, and the 2-D broadcast of a bias) and
32- / 64-bit indexing; RawKernel sources are compiled as :func:`~mlp.backends.cupy.raw_source`
gives them. Each is compiled for the architectures we claim (``ARCHS``), to machine code, so
ptxas runs too. A compile error fails with NVRTC's log and the numbered source.

NVRTC comes from the ``nvidia-cuda-nvrtc-cu12`` wheel (``pip install '.[cuda-check]'``); without
it these tests skip, unless ``MLP_REQUIRE_NVRTC=1`` (CI, once the wheel installed) makes that a
failure.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import types
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

import cuda_compile as cc
from cupy_emulator import CALLS, FakeReductionKernel, compiler, emulated_backend

ARCHS = ("sm_80", "sm_90")
"""Ampere (A100) and Hopper (H100 / H200), the architectures the backend claims."""

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ARRAY_INPUTS = frozenset({"z", "b", "dy", "y", "x", "grad", "param"})
"""The ElementwiseKernel inputs that the backend passes as arrays; every other input is a
scalar (checked against the backend's calls by ``test_the_call_table_is_the_backends``)."""


# =========================================================================== the backend's kernels
class _Recorded:
    def __init__(self, kind: str, *args, **kwargs):
        self.kind, self.args, self.kwargs = kind, args, kwargs


def _recording_cupy() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        ElementwiseKernel=lambda *a, **k: _Recorded("elementwise", *a, **k),
        ReductionKernel=lambda *a, **k: _Recorded("reduction", *a, **k),
        RawKernel=lambda *a, **k: _Recorded("raw", *a, **k))


def backend_kernels() -> Tuple[Any, Dict[str, _Recorded]]:
    """A private copy of ``mlp/backends/cupy.py`` bound to a recording ``cupy``, and what its
    :func:`every_kernel` created."""
    spec = importlib.util.spec_from_file_location(
        "mlp.backends._cupy_compile_check", importlib.util.find_spec("mlp.backends.cupy").origin)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.cp = _recording_cupy()
    return module, module.every_kernel()


def _elementwise_parts(kernel: _Recorded) -> Dict[str, Any]:
    in_params, out_params, operation, name = kernel.args[:4]
    return dict(in_params=in_params, out_params=out_params, operation=operation, name=name,
                preamble=kernel.kwargs.get("preamble", ""))


def expected_scalars(in_params: str) -> frozenset:
    return frozenset(p.name for p in cc.parse_params(in_params, True)
                     if p.name not in ARRAY_INPUTS)


def generated_sources(kernel: _Recorded) -> List[Tuple[str, str]]:
    """``[(variant id, CUDA C)]`` of one recorded kernel: each source CuPy would compile."""
    sources = []
    if kernel.kind == "raw":
        return [("raw", kernel.args[0])]
    if kernel.kind == "elementwise":
        parts = _elementwise_parts(kernel)
        scalars = expected_scalars(parts["in_params"])
        layouts = [("1d", 1, ())]
        if re.search(r"\bT b\b", parts["in_params"]):  # the bias broadcasts along rows: 2-D
            layouts.append(("2d-broadcast", 2, ("b",)))
        for dtype in DTYPES:
            for layout, ndim, strided in layouts:
                for index_32 in (True, False):
                    sources.append((
                        f"{dtype.name}-{layout}-{'int32' if index_32 else 'int64'}-index",
                        cc.elementwise_source(t_dtype=dtype, scalars=scalars, ndim=ndim,
                                              index_32_bits=index_32, non_contiguous=strided,
                                              **parts)))
        return sources
    in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name = kernel.args[:7]
    for dtype in DTYPES:
        for in_ndim in (1, 2):  # contiguous parameters, and a strided view
            for index_64 in (False, True):
                sources.append((
                    f"{dtype.name}-{in_ndim}d-IndexT-{'int64' if index_64 else 'int32'}",
                    cc.reduction_source(in_params, out_params, map_expr, reduce_expr,
                                        post_map_expr, identity, name,
                                        kernel.kwargs.get("reduce_type"),
                                        kernel.kwargs.get("preamble", ""), dtype,
                                        in_ndim=in_ndim, index_64_bits=index_64)))
    return sources


MODULE, KERNELS = backend_kernels()


def compile_all(nvrtc: cc.Nvrtc, name: str, kernel: _Recorded, arch: str) -> int:
    """Compile every source of ``kernel`` for ``arch``; return how many."""
    options = (f"-arch={arch}",) + cc.CUPY_OPTIONS
    sources = generated_sources(kernel)
    entry = kernel.args[1] if kernel.kind == "raw" else kernel.args[3 if kernel.kind ==
                                                                    "elementwise" else 6]
    for variant, source in sources:
        binary, _log = nvrtc.compile(source, f"{name}[{variant}]", options,
                                     headers=None if kernel.kind == "raw" else cc.HEADERS)
        assert binary, f"{name}[{variant}]: NVRTC returned no code"
        assert entry.encode() in binary, f"{name}[{variant}]: no symbol {entry} in the cubin"
    return len(sources)


@pytest.fixture(scope="module")
def nvrtc():
    try:
        lib = cc.Nvrtc()
    except cc.NvrtcUnavailable as error:
        if os.environ.get("MLP_REQUIRE_NVRTC", "") not in ("", "0"):
            pytest.fail(f"MLP_REQUIRE_NVRTC is set but {error}")
        pytest.skip(str(error))
    supported = lib.supported_archs()
    missing = [a for a in ARCHS if int(a[3:]) not in supported]
    assert not missing, f"NVRTC {lib.version} cannot target {missing} (it has {supported})"
    return lib


# =========================================================================== the compile check
def test_every_kernel_is_enumerated():
    """``every_kernel`` knows the seven RawKernels (softmax, its gradient, the losses and the
    four normalization kernels) for each dtype, the 18 elementwise kernels and the two
    reductions; each factory of the module is among what it calls."""
    kinds = [k.kind for k in KERNELS.values()]
    assert kinds.count("raw") == 2 * len(MODULE.RAW_KERNELS) == 14
    assert kinds.count("elementwise") == 18
    assert kinds.count("reduction") == 2
    factories = [n for n in dir(MODULE) if n.startswith("_") and n.endswith("_kernel")
                 and n not in ("_raw_kernel",) and callable(getattr(MODULE, n))]
    source = importlib.util.find_spec("mlp.backends.cupy").origin
    with open(source) as handle:
        text = handle.read()
    body = text[text.index("def every_kernel"):text.index("def _block_for")]
    for factory in factories:
        assert f"{factory}(" in body, f"every_kernel() does not create {factory}'s kernels"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_compiles(nvrtc, name, arch):
    assert compile_all(nvrtc, name, KERNELS[name], arch) >= 1


def test_reductions_use_a_c_reduce_type():
    for name, kernel in KERNELS.items():
        if kernel.kind == "reduction":
            reduce_type = kernel.kwargs.get("reduce_type")
            assert reduce_type in (None, "double", "float"), (name, reduce_type)


# =========================================================================== the check can fail
def test_a_planted_error_fails_with_the_nvrtc_log(nvrtc):
    """The reductions as they were before issue 14 (``reduce_type="float64"``, a NumPy name
    pasted into C) and a RawKernel source with a typo: each fails with NVRTC's log."""
    kernel = KERNELS["mlp_sum_sq"]
    broken = _Recorded("reduction", *kernel.args, **dict(kernel.kwargs, reduce_type="float64"))
    with pytest.raises(cc.CompileError, match=r'(?s)NVRTC log.*identifier "float64" is undefined'):
        compile_all(nvrtc, "mlp_sum_sq", broken, "sm_90")
    code = KERNELS["mlp_loss_rows[float32]"].args[0]
    code = code.replace("mlp_block_sum(acc", "mlp_blok_sum(acc", 1)
    typo = _Recorded("raw", code, "mlp_loss_rows")
    with pytest.raises(cc.CompileError, match=r'(?s)NVRTC log.*mlp_blok_sum.*--- source ---'):
        compile_all(nvrtc, "mlp_loss_rows", typo, "sm_80")


def test_shared_arrays_need_the_block_constant(nvrtc):
    """Without ``MLP_MAX_BLOCK``, or with one that is no power of two, the sources refuse to
    compile (``#error``), so the shared arrays can never be sized by hand again."""
    code = MODULE.raw_source("mlp_softmax_rows", np.float32)
    for bad in ("", "#define MLP_MAX_BLOCK 300\n"):
        source = code.replace(f"#define MLP_MAX_BLOCK {MODULE.MAX_BLOCK}\n", bad)
        with pytest.raises(cc.CompileError, match="MLP_MAX_BLOCK"):
            nvrtc.compile(source, "mlp_softmax_rows", ("-arch=sm_80",) + cc.CUPY_OPTIONS)


# =========================================================================== without NVRTC
@pytest.mark.parametrize("require", [False, True])
def test_without_nvrtc_the_check_skips_unless_required(require):
    env = dict(os.environ, MLP_NVRTC="none", MLP_REQUIRE_NVRTC="1" if require else "0")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                          f"{__file__}::test_kernel_compiles"], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=False)
    if require:
        assert out.returncode == 1, out.stdout[-2000:]
        assert "MLP_REQUIRE_NVRTC is set but NVRTC not found" in out.stdout
    else:
        assert out.returncode == 0, out.stdout[-2000:]
        assert "NVRTC not found" in out.stdout and " skipped" in out.stdout
        assert " passed" not in out.stdout and " failed" not in out.stdout


def test_shared_arrays_are_sized_from_max_block():
    from mlp.backends import cuda_sources

    for name in MODULE.RAW_KERNELS:
        code = MODULE.raw_source(name, np.float64)
        assert f"#define MLP_MAX_BLOCK {MODULE.MAX_BLOCK}\n" in code
        shared = re.findall(r"__shared__\s+\w+\s+\w+\[([^\]]*)\]", code)
        assert shared and set(shared) == {"MLP_MAX_BLOCK"}, shared
    every = cuda_sources.BLOCK_REDUCE + cuda_sources.SOFTMAX_SOURCE + cuda_sources.LOSS_SOURCE
    assert not re.search(r"__shared__[^;]*\[\s*\d+\s*\]", every)  # no size written by hand
    assert MODULE._block_for(10 ** 9) == MODULE.MAX_BLOCK
    assert all(MODULE._block_for(c) <= MODULE.MAX_BLOCK for c in range(0, 3000, 7))
    for bad in (16, 300, 2048, 256.0):
        with pytest.raises(ValueError, match="MAX_BLOCK"):
            MODULE._check_max_block(bad)
    assert MODULE._check_max_block(1024) == 1024


def test_the_emulator_refuses_what_cuda_refuses():
    with pytest.raises(ValueError, match="not a C type"):
        FakeReductionKernel("T x", "float64 y", "x", "a + b", "y = a", "0", "k",
                            reduce_type="float64")
    with pytest.raises(ValueError, match="wrong type 'double'"):
        FakeReductionKernel("T x", "double y", "x", "a + b", "y = a", "0", "k")
    FakeReductionKernel("T x", "float64 y", "x", "a + b", "y = a", "0", "k", reduce_type="double")


def _drive(backend, cp) -> None:
    """Call each backend operation that launches an ElementwiseKernel, in each variant."""
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        x = cp.asarray(rng.standard_normal((3, 4)).astype(dtype))
        w = cp.asarray(rng.standard_normal((4, 5)).astype(dtype))
        b = cp.asarray(rng.standard_normal(5).astype(dtype))
        backend.activation_forward(x, "relu")
        pre = backend.empty((3, 5), dtype)
        y = backend.dense_forward(x, w, b, "gelu", preact=pre)
        backend.dense_forward(x, w, None, "tanh", preact=backend.empty((3, 5), dtype))
        backend.dense_forward(x, w, b, "tanh")
        backend.dense_backward(x, w, y, cp.asarray(np.ones((3, 5), dtype)), "gelu", preact=pre)
        backend.dropout_forward(x, 0.5, 1, 2, 3)
        size = 7
        p = lambda: backend.zeros((size,), dtype)  # noqa: E731
        g = cp.asarray(np.ones(size, dtype))
        backend.sgd_update(p(), g, None, lr=0.1)
        backend.sgd_update(p(), g, p(), lr=0.1, momentum=0.9, nesterov=True)
        for amsgrad in (False, True):
            backend.adam_update(p(), g, p(), p(), p(), 1, 1e-3, 0.9, 0.999, 1e-7, amsgrad=amsgrad)
        for momentum in (0.0, 0.9):
            for centered in (False, True):
                backend.rmsprop_update(p(), g, p(), 1e-3, 0.9, 1e-7, momentum=momentum,
                                       velocity=p(), centered=centered, mean_grad=p())
        backend.adagrad_update(p(), g, p(), 0.1, 1e-7)
        backend.add_penalty_gradient(p(), g, l1=0.1, l2=0.2)
        backend.scale_(p(), 0.5)
        backend.clip_(p(), 1.0)


def test_the_call_table_is_the_backends():
    """Which inputs the backend passes as scalars, seen in its own calls (emulated): the same as
    ``ARRAY_INPUTS`` gives, for every elementwise kernel of ``every_kernel``."""
    if not compiler():
        pytest.skip("no C++ compiler for the emulated kernels")
    module, backend = emulated_backend()
    CALLS.clear()
    _drive(backend, module.cp)
    by_name = {k.args[3]: k for k in KERNELS.values() if k.kind == "elementwise"}
    seen = {name for name, _, _ in CALLS}
    assert seen == set(by_name), (f"not driven: {set(by_name) - seen}; "
                                  f"unknown: {seen - set(by_name)}")
    for name, dtype, scalars in CALLS:
        assert scalars == expected_scalars(by_name[name].args[0]), (name, dtype, scalars)
