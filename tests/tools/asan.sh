#!/usr/bin/env bash
# The kernels built with AddressSanitizer, run over the kernel, backend and engine tests
# (issue 15). Builds in a scratch copy of the committed tree, so the working tree's in-place
# build is left alone.
#
#   tests/tools/asan.sh [pytest paths...]     default: tests/kernels tests/backends
#                                             tests/training/test_engine.py tests/test_model.py
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
git -C "$repo" archive HEAD | tar -x -C "$scratch"
cd "$scratch"
CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g" LDFLAGS="-fsanitize=address" \
    python setup.py build_ext --inplace -q >/dev/null
libasan="$(${CC:-gcc} -print-file-name=libasan.so)"
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(tests/kernels tests/backends tests/training/test_engine.py
                                  tests/test_model.py)
# leaks: CPython's own allocations at exit are not ours to report
LD_PRELOAD="$libasan" ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" PYTHONPATH=src \
    python -m pytest -q -x -p no:cacheprovider "${paths[@]}"
