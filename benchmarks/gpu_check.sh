#!/usr/bin/env bash
# GPU check (DESIGN.md, "GPU checks"; issue 6): on a machine with an NVIDIA GPU, in one call and
# in under 8 minutes (the steps print as "== N."):
#   0. the machine: GPU, driver, Python;
#   1. a virtual environment that also sees the packages of the Python it starts from (the CuPy
#      and PyTorch of a GPU image);
#   2. CuPy: the one already there, else wheels carried along in $MLP_WHEELS (default
#      shared/wheels/), else PyPI (cupy-cuda13x or cupy-cuda12x, after the driver's CUDA
#      version); the script prints which;
#   3. this package installed into the venv (pip install .);
#   4. CuPy and mlp's cupy backend see the GPU (else: exit 2);
#   5. tests/backends/test_cupy_backend.py on the GPU (the kernel suite against the NumPy reference,
#      CPU-vs-GPU agreement, the backend switch, save / load across backends);
#   6. the whole test suite with MLP_BACKEND=cupy (models built without a backend use the GPU;
#      CPU-only tests still run). It goes on past failures, up to $PYTEST_MAXFAIL, rather than
#      stopping at the first as -x would, so that one GPU run reports them all;
#   7. benchmarks/gpu_bench.py: configs B, C, D, mlp on cupy against PyTorch CUDA eager;
#   then a summary. Logs and the benchmark JSON go to $GPU_CHECK_WORK (a temporary folder by
#   default) and, when $OUT is set (the device tool), to $OUT too.
#
# Usage: bash benchmarks/gpu_check.sh
# Environment: PYTHON (default python3), MLP_WHEELS, MLP_NO_PYPI=1 (never try PyPI),
#   GPU_CHECK_BUDGET (seconds, default 470), PYTEST_MAXFAIL (step 6, default 30), GPU_CHECK_WORK.
# Exit status: 0 when steps 5 and 7 passed, 1 otherwise, 2 when no GPU / CuPy could be set up.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
start=$SECONDS
budget=${GPU_CHECK_BUDGET:-470}
python=${PYTHON:-python3}
wheels=${MLP_WHEELS:-$root/shared/wheels}
maxfail=${PYTEST_MAXFAIL:-30}
work=${GPU_CHECK_WORK:-$(mktemp -d /tmp/mlp-gpu-check.XXXXXX)}
mkdir -p "$work"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
unset MLP_BACKEND

elapsed() { echo $((SECONDS - start)); }
left() { echo $((budget - (SECONDS - start))); }
step() { echo; echo "== $* (at $(elapsed)s of ${budget}s)"; }
# limit SECONDS: the smaller of SECONDS and what is left of the budget minus a reserve
limit() {
  local want=$1 reserve=${2:-0} remaining
  remaining=$(( $(left) - reserve ))
  (( remaining < want )) && want=$remaining
  (( want < 10 )) && want=10
  echo "$want"
}
publish() {  # copy the logs and results to $OUT when the device tool gave one
  if [[ -n "${OUT:-}" && -d "${OUT:-}" ]]; then
    cp "$work"/*.log "$work"/*.json "$OUT"/ 2>/dev/null || true
  fi
}
summary_lines=("started $(date -u '+%Y-%m-%d %H:%M:%S') UTC in $root")
note() { summary_lines+=("$*"); echo "-- $*"; }
finish() {
  local code=$1
  echo
  echo "================ GPU check summary ($(elapsed)s) ================"
  printf '%s\n' "${summary_lines[@]}"
  echo "logs: $work"
  publish
  exit "$code"
}

step "0. machine"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  cuda_version=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\)\..*/\1/p' | head -1)
else
  echo "nvidia-smi not found"
  cuda_version=""
fi
"$python" -V || { note "no Python ($python)"; finish 2; }
note "driver CUDA major version: ${cuda_version:-unknown}"

step "1. virtual environment"
# no pip or setuptools of its own: the venv uses those of the Python it came from (an old
# bundled setuptools would shadow the image's and fail on pyproject.toml's licence field)
if ! "$python" -m venv --without-pip "$work/venv"; then
  note "venv: could not create one with $python"
  finish 2
fi
py="$work/venv/bin/python"
# let the venv see the packages of the Python it came from (itself often a venv holding CuPy and
# PyTorch); the venv's own site-packages come first, so the mlp installed below wins
parent_sites=$("$python" -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))')
venv_site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n' "$parent_sites" > "$venv_site/_mlp_gpu_check_parent.pth"
"$py" -m pip --version >/dev/null 2>&1 || "$py" -m ensurepip -q || note "venv: no pip"
"$py" -c 'import sys, pip; print("venv python", sys.version.split()[0], "pip", pip.__version__)'

step "2. CuPy"
if "$py" -c 'import cupy' 2>/dev/null; then
  cupy_source="already installed ($("$py" -c 'import cupy; print(cupy.__file__)'))"
elif compgen -G "$wheels/cupy*.whl" >/dev/null; then
  cupy_wheel=$(ls "$wheels"/cupy*.whl | head -1)
  if timeout "$(limit 180 300)" "$py" -m pip install -q --no-index --find-links "$wheels" \
      "$cupy_wheel"; then
    cupy_source="wheel carried along: $cupy_wheel"
  else
    cupy_source="FAILED to install $cupy_wheel"
  fi
elif [[ "${MLP_NO_PYPI:-0}" != 0 ]]; then
  cupy_source="not installed, no wheel in $wheels, PyPI not tried (MLP_NO_PYPI)"
else
  package=cupy-cuda12x
  [[ -n "$cuda_version" && "$cuda_version" -ge 13 ]] && package=cupy-cuda13x
  echo "no CuPy here and no wheel in $wheels: trying PyPI ($package)"
  if timeout "$(limit 180 300)" "$py" -m pip install -q --retries 1 --timeout 15 "$package"; then
    cupy_source="PyPI: $package"
  else
    cupy_source="FAILED: not installed, no wheel in $wheels, PyPI unreachable or failing"
  fi
fi
note "CuPy: $cupy_source"
for module in pytest hypothesis threadpoolctl scipy; do
  if ! "$py" -c "import $module" 2>/dev/null; then
    echo "installing $module"
    timeout "$(limit 120 300)" "$py" -m pip install -q --retries 1 --timeout 15 \
      --find-links "$wheels" "$module" \
      || note "could not install $module"
  fi
done

step "3. install mlp (pip install .)"
# the build needs Cython, setuptools and scipy; without a network, use the ones already there
if timeout "$(limit 300 240)" "$py" -m pip install -q --no-build-isolation --no-deps "$root" \
    > "$work/install.log" 2>&1; then
  note "mlp: pip install --no-build-isolation . (build tools of the image)"
elif timeout "$(limit 300 240)" "$py" -m pip install -q "$root" >> "$work/install.log" 2>&1; then
  note "mlp: pip install . (isolated build)"
else
  tail -30 "$work/install.log"
  note "mlp: INSTALL FAILED (see install.log)"
  finish 1
fi
(cd "$work" && "$py" -c 'import mlp, sys; print("mlp", mlp.__version__, "from", mlp.__file__)')

step "4. the GPU as CuPy and mlp see it"
if ! (cd "$work" && timeout 120 "$py" - <<'PY'
import cupy
from mlp.backends import get_backend
props = cupy.cuda.runtime.getDeviceProperties(0)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
print(f"CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
      f"{cupy.cuda.runtime.getDeviceCount()} device(s), device 0: {name}")
print("mlp backend:", get_backend("cupy").name)
PY
); then
  note "GPU: NOT USABLE by CuPy / mlp (see above); the CuPy tests would all skip"
  finish 2
fi

step "5. tests/backends/test_cupy_backend.py on the GPU"
t0=$SECONDS
timeout "$(limit 240 200)" "$py" -m pytest tests/backends/test_cupy_backend.py -q -rs -p no:cacheprovider \
  -k "not emulated" 2>&1 | tee "$work/test_cupy_backend.log"
rc_cupy=${PIPESTATUS[0]}
note "cupy backend tests: rc=$rc_cupy ($((SECONDS - t0))s): $(tail -1 "$work/test_cupy_backend.log")"

step "6. the whole suite with MLP_BACKEND=cupy (stops after $maxfail failures)"
# Deselected: two tests that assert the default backend is cpu (false by design here) and one
# that calls set_backend("cpu"), which would put every later test back on the CPU.
t0=$SECONDS
MLP_BACKEND=cupy timeout "$(limit 200 100)" "$py" -m pytest tests -q -p no:cacheprovider \
  --maxfail="$maxfail" -k "not emulated" \
  --deselect tests/backends/test_backends.py::test_default_is_cpu \
  --deselect tests/backends/test_backends.py::test_use_backend_is_scoped_and_nests \
  --deselect tests/backends/test_backends.py::test_set_backend_changes_the_default \
  2>&1 | tee "$work/test_suite_mlp_backend_cupy.log" \
  | grep -E "^(FAILED|ERROR)|passed|failed" | tail -40
rc_suite=${PIPESTATUS[0]}
note "suite with MLP_BACKEND=cupy: rc=$rc_suite ($((SECONDS - t0))s): $(tail -1 "$work/test_suite_mlp_backend_cupy.log")"

step "7. benchmark: configs B, C, D, mlp on cupy vs PyTorch CUDA eager"
t0=$SECONDS
timeout "$(limit 150 5)" "$py" benchmarks/gpu_bench.py --repeats 5 \
  --json "$work/gpu_bench.json" 2>&1 | tee "$work/gpu_bench.log"
rc_bench=${PIPESTATUS[0]}
note "benchmark: rc=$rc_bench ($((SECONDS - t0))s)"
table=$(grep -E '^\|' "$work/gpu_bench.log" || true)
[[ -n "$table" ]] && summary_lines+=("$table")

if [[ $rc_cupy -eq 0 && $rc_bench -eq 0 ]]; then
  finish 0
fi
finish 1
