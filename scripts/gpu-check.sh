#!/usr/bin/env bash
# GPU check for a CUDA machine: the gpu-marked tests, then the ops benchmark on the GPU.
# Usage, from the repository root: bash scripts/gpu-check.sh   (PYTHON=... to pick the interpreter)
# Needs only torch, pytest and hypothesis in that interpreter: no virtual environment, no notebook
# tooling (the gpu tests import torch and convlab alone). Finishes in a few minutes.
set -uo pipefail

PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
mkdir -p _build/gpu-check
log=_build/gpu-check/pytest.log

echo "== machine"
"$PY" - <<'PY'
import platform, torch
print(f"python {platform.python_version()}, torch {torch.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"GPU: {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}")
PY

echo "== pytest -m gpu"
# only the files that mark gpu tests are collected, so the others' imports (nbgrader, jupyter)
# are not needed here
mapfile -t files < <(grep -rlE --include='test_*.py' 'mark\.gpu' tests | sort)
echo "files: ${files[*]:-none}"
start=$(date +%s)
if [ "${#files[@]}" -gt 0 ]; then
    timeout 240 "$PY" -m pytest -m gpu -q -p no:cacheprovider -rfEs "${files[@]}" 2>&1 | tee "$log"
    tests_rc=${PIPESTATUS[0]}
else
    echo "no gpu-marked tests found" | tee "$log"
    tests_rc=1
fi
tests_s=$(( $(date +%s) - start ))

echo "== python -m bench --device cuda --quick"
start=$(date +%s)
timeout 180 "$PY" -m bench --device cuda --quick --out _build/gpu-check/ops.json
bench_rc=$?
bench_s=$(( $(date +%s) - start ))

summary=$(grep -E "^[0-9]+ (passed|failed|skipped|error)|(passed|failed|error).* in [0-9.]+s" "$log" \
    | tail -1)
echo
echo "== gpu-check summary"
printf '%-28s %-8s %6s  %s\n' "step" "status" "secs" "detail"
status() { if [ "$1" -eq 0 ]; then echo ok; else echo "FAIL($1)"; fi; }
printf '%-28s %-8s %6s  %s\n' "pytest -m gpu" "$(status $tests_rc)" "$tests_s" "${summary:-no summary}"
printf '%-28s %-8s %6s  %s\n' "bench --device cuda --quick" "$(status $bench_rc)" "$bench_s" \
    "_build/gpu-check/ops.json"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
