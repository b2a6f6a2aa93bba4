#!/usr/bin/env bash
# GPU check (issue 14): on a machine with an NVIDIA GPU whose Python already holds CuPy (and
# PyTorch for the benchmark peer), with no network, in one call and in under 8 minutes. Steps print
# as "== N.":
#   0. the machine: GPU, driver, Python, CuPy / PyTorch versions;
#   1. mlp built from this checkout with the image's own build tools (pip --no-build-isolation,
#      installed into a private folder put on PYTHONPATH; nothing is installed into the image's
#      Python). Only when a build requirement is missing or too old (setuptools >= 77,
#      Cython >= 3) are wheels from $MLP_WHEELS (default shared/wheels/) used, and it says so;
#   2. one tiny kernel: CuPy compiles (NVRTC) and launches a kernel, cuBLAS multiplies, and mlp's
#      cupy backend runs a loss and a reduction. Any failure here stops the check with ONE line
#      starting "GPU CHECK STOPPED:" (exit 2): no GPU, no CuPy, no NVRTC, no cuBLAS;
#   3. the backend suite on the GPU with MLP_BACKEND=cupy: tests/backends and tests/kernels, the
#      `backend` fixture's "cupy" value included (emulated tests deselected);
#   4. the CPU-vs-GPU agreement tests (training, dropout masks, save / load across backends);
#   5. benchmarks/gpu_bench.py: configs B, C, D, mlp on cupy against PyTorch CUDA eager;
#   then a summary. The log (gpu_check.log), the per-step logs, gpu_check.json (every step's
#   status and timing) and gpu_bench.json go to $OUT when it is set (the device tool), else to
#   $GPU_CHECK_WORK (a temporary folder by default).
#
# Usage: bash benchmarks/gpu_check.sh
# Environment: PYTHON (default /opt/torch/.venv/bin/python3 when it exists, else python3),
#   MLP_WHEELS, GPU_CHECK_BUDGET (seconds, default 460), GPU_CHECK_WORK.
# Exit status: 0 when steps 3, 4 and 5 passed, 1 when one failed, 2 when the GPU, CuPy, NVRTC,
#   cuBLAS or the build is not usable (step 1 or 2).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
start=$SECONDS
budget=${GPU_CHECK_BUDGET:-460}
if [[ -n "${PYTHON:-}" ]]; then
  python=$PYTHON
elif [[ -x /opt/torch/.venv/bin/python3 ]]; then
  python=/opt/torch/.venv/bin/python3
else
  python=python3
fi
wheels=${MLP_WHEELS:-$root/shared/wheels}
work=${GPU_CHECK_WORK:-$(mktemp -d /tmp/mlp-gpu-check.XXXXXX)}
mkdir -p "$work"
results=${OUT:-$work}
mkdir -p "$results"
log="$results/gpu_check.log"
: > "$log"
exec 3>&1 > >(tee -a "$log" >&3) 2>&1
tee_pid=$!
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INDEX=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
unset MLP_BACKEND

steps_file="$work/steps.tsv"
: > "$steps_file"
elapsed() { echo $((SECONDS - start)); }
left() { echo $((budget - (SECONDS - start))); }
step() { echo; echo "== $* (at $(elapsed)s of ${budget}s)"; }
# limit WANT RESERVE: WANT seconds, or less so that RESERVE seconds of the budget stay
limit() {
  local want=$1 reserve=${2:-0} remaining
  remaining=$(( $(left) - reserve ))
  (( remaining < want )) && want=$remaining
  (( want < 15 )) && want=15
  echo "$want"
}
record() {  # record STEP RC SECONDS LAST-LINE
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4//$'\t'/ }" >> "$steps_file"
  echo "-- $1: rc=$2 ($3s) $4"
}
finish() {
  local code=$1 line=${2:-}
  echo
  echo "================ GPU check summary ($(elapsed)s) ================"
  column -t -s $'\t' "$steps_file" 2>/dev/null || cat "$steps_file"
  [[ -f "$work/gpu_bench.log" ]] && grep -E '^\|' "$work/gpu_bench.log"
  "$python" - "$steps_file" "$results/gpu_check.json" "$code" "$(elapsed)" "$line" <<'PY' || true
import json, sys
steps_file, out, code, seconds, line = sys.argv[1:6]
steps = []
for row in open(steps_file):
    name, rc, secs, last = (row.rstrip("\n").split("\t") + [""] * 4)[:4]
    steps.append({"step": name, "rc": int(rc), "seconds": int(secs), "result": last})
json.dump({"exit": int(code), "seconds": int(seconds), "stopped": line or None,
           "steps": steps}, open(out, "w"), indent=2)
PY
  for file in "$work"/*.log "$work"/*.json; do
    [[ -f "$file" && "$(dirname "$file")" != "$results" ]] && cp "$file" "$results"/ 2>/dev/null
  done
  echo "results: $results"
  [[ -n "$line" ]] && echo "$line"
  exec 1>&3 2>&3  # let tee write the last lines before the exit
  wait "$tee_pid" 2>/dev/null
  exit "$code"
}
stop() {  # one clear line, then exit 2
  record "$1" 2 0 "$2"
  finish 2 "GPU CHECK STOPPED: $2"
}

step "0. machine"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
  echo "nvidia-smi not found"
fi
"$python" -V 2>&1 || stop "0.machine" "no Python at $python (set PYTHON)"
"$python" - <<'PY'
import importlib
for name in ("numpy", "cupy", "torch", "setuptools", "Cython", "scipy", "pytest", "hypothesis"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except Exception as error:
        print(f"{name}: not importable ({type(error).__name__}: {str(error)[:120]})")
PY

step "1. build mlp with the image's build tools (--no-build-isolation)"
t0=$SECONDS
site="$work/site"
buildtools="$work/buildtools"
rm -rf "$site" "$buildtools"
mkdir -p "$site"
missing=$("$python" - <<'PY'
missing = []
try:
    import setuptools
    if int(setuptools.__version__.split(".")[0]) < 77:
        missing.append(f"setuptools>=77 (have {setuptools.__version__})")
except Exception:
    missing.append("setuptools")
try:
    import Cython
    if int(Cython.__version__.split(".")[0]) < 3:
        missing.append(f"Cython>=3 (have {Cython.__version__})")
except Exception:
    missing.append("Cython")
for name in ("scipy", "numpy"):
    try:
        __import__(name)
    except Exception:
        missing.append(name)
print(", ".join(missing))
PY
)
build_path=""
if [[ -n "$missing" ]]; then
  echo "build requirements missing here: $missing"
  if compgen -G "$wheels/*.whl" >/dev/null \
      && "$python" -m pip install -q --no-index --no-deps --target "$buildtools" "$wheels"/*.whl \
         > "$work/buildtools.log" 2>&1; then
    build_path=$buildtools
    echo "using wheels carried in $wheels for the build: $(cd "$wheels" && ls *.whl | tr '\n' ' ')"
  else
    stop "1.build" "build requirements missing ($missing) and no usable wheels in $wheels"
  fi
fi
if ! PYTHONPATH="$build_path${build_path:+:}${PYTHONPATH:-}" timeout "$(limit 240 200)" \
    "$python" -m pip install --no-build-isolation --no-deps --no-index --target "$site" "$root" \
    > "$work/build.log" 2>&1; then
  tail -30 "$work/build.log"
  stop "1.build" "pip install --no-build-isolation of mlp failed (see build.log)"
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
built=$(cd "$work" && "$python" -c 'import mlp; print("mlp", mlp.__version__, "from", mlp.__file__)' \
  2>&1 | tail -1)
record "1.build" 0 $((SECONDS - t0)) "$built"

step "2. one tiny kernel: CuPy + NVRTC + cuBLAS + mlp's cupy backend"
t0=$SECONDS
line=$(cd "$work" && timeout "$(limit 180 150)" "$python" - 2>"$work/tiny_kernel.err" <<'PY'
import sys

def stop(what, error=None):
    detail = f" ({type(error).__name__}: {str(error).splitlines()[0][:200]})" if error else ""
    print(f"{what}{detail}")
    sys.exit(1)

try:
    import numpy as np
    import cupy as cp
except Exception as error:
    stop("CuPy does not import", error)
try:
    count = cp.cuda.runtime.getDeviceCount()
except Exception as error:
    stop("CuPy sees no CUDA GPU", error)
if count < 1:
    stop("CuPy sees no CUDA GPU (0 devices)")
try:
    kernel = cp.RawKernel(r'''extern "C" __global__ void mlp_tiny(float* x, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] = 2.0f * x[i] + 1.0f; }''',
        "mlp_tiny")
    x = cp.arange(64, dtype=cp.float32)
    kernel((1,), (64,), (x, np.int32(64)))
    cp.cuda.Device().synchronize()
    assert float(x[10]) == 21.0, float(x[10])
except Exception as error:
    stop("a tiny RawKernel did not compile or run: NVRTC missing or broken?", error)
try:
    a = cp.ones((32, 16), dtype=cp.float32)
    assert float((a @ a.T)[0, 0]) == 16.0
except Exception as error:
    stop("a tiny matrix product failed: cuBLAS missing or broken?", error)
try:
    from mlp.backends import get_backend
    backend = get_backend("cupy")
    pred = cp.full((4, 3), 0.5, dtype=cp.float32)
    value, grad = backend.loss("mean_squared_error", pred, cp.zeros((4, 3), cp.float32))
    assert abs(value - 0.25) < 1e-6, value
    assert abs(backend.penalty(pred, l1=1.0, l2=1.0) - 9.0) < 1e-6
except Exception as error:
    stop("mlp's cupy backend failed on a tiny loss / reduction", error)
props = cp.cuda.runtime.getDeviceProperties(0)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
try:
    nvrtc = ".".join(map(str, cp.cuda.nvrtc.getVersion()))
except Exception:
    nvrtc = "?"
print(f"OK: {name}, CuPy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}, "
      f"NVRTC {nvrtc}")
PY
)
rc=$?
[[ -z "$line" ]] && line="the tiny-kernel step died: $(tail -1 "$work/tiny_kernel.err" 2>/dev/null)"
if [[ $rc -ne 0 ]]; then
  tail -5 "$work/tiny_kernel.err" 2>/dev/null
  stop "2.tiny-kernel" "$line"
fi
record "2.tiny-kernel" 0 $((SECONDS - t0)) "$line"

run_pytest() {  # run_pytest STEP LOGNAME SECONDS RESERVE pytest-arguments...
  local name=$1 logname=$2 want=$3 reserve=$4 t0=$SECONDS rc
  shift 4
  MLP_BACKEND=cupy timeout "$(limit "$want" "$reserve")" "$python" -m pytest -q -rfE \
    --maxfail=30 --durations=10 -p no:cacheprovider "$@" > "$work/$logname" 2>&1
  rc=$?
  grep -E "^(FAILED|ERROR)" "$work/$logname" | head -30
  record "$name" "$rc" $((SECONDS - t0)) "$(tail -1 "$work/$logname")"
  return "$rc"
}

step "3. the backend suite on the GPU (MLP_BACKEND=cupy)"
# Deselected: the emulated runs (step 3 is about the GPU), the agreement tests (step 4), and
# three tests that assert the default backend is cpu or reset it, false by design under
# MLP_BACKEND=cupy.
run_pytest "3.backend-suite" test_backend_suite.log 200 150 tests/backends tests/kernels \
  -k "not emulated and not cpu_and_gpu and not save_on_one_backend" \
  --deselect tests/backends/test_backends.py::test_default_is_cpu \
  --deselect tests/backends/test_backends.py::test_use_backend_is_scoped_and_nests \
  --deselect tests/backends/test_backends.py::test_set_backend_changes_the_default
rc_suite=$?

step "4. CPU-vs-GPU agreement"
run_pytest "4.cpu-vs-gpu" test_agreement.log 90 110 tests/backends/test_cupy_backend.py \
  -k "(cpu_and_gpu or save_on_one_backend) and not emulated"
rc_agree=$?

step "5. benchmark: configs B, C, D, mlp on cupy vs PyTorch CUDA eager"
t0=$SECONDS
(cd "$work" && timeout "$(limit 150 10)" "$python" "$root/benchmarks/gpu_bench.py" --repeats 5 \
  --json "$work/gpu_bench.json") > "$work/gpu_bench.log" 2>&1
rc_bench=$?
tail -12 "$work/gpu_bench.log"
rows=$(grep -c '^| [BCD] ' "$work/gpu_bench.log")
record "5.bench" "$rc_bench" $((SECONDS - t0)) "$rows table rows"

if [[ $rc_suite -eq 0 && $rc_agree -eq 0 && $rc_bench -eq 0 ]]; then
  finish 0
fi
finish 1
