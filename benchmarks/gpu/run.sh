#!/usr/bin/env bash
# One-shot GPU verification of Mocha's CuPy backend (at most ~8 minutes on the device).
#
# Run from the repository root on a machine with a CUDA GPU whose python3 already has CuPy,
# a CUDA PyTorch, numba, h5py, pluggy, rich, typer, pytest and hypothesis, and that reaches
# no package index. Prepare on a machine that does (see docs/gpu.md):
#
#   pip wheel --no-deps -w dist .                 # the project, as a wheel (dist/ is ignored)
#   mkdir -p data && cp -r ../shared/data/mnist data/mnist   # the MNIST IDX files (/data/ ignored)
#
# then carry dist and data/mnist with the working tree and run `bash benchmarks/gpu/run.sh`.
# Steps, each under its own time limit (a step that fails or runs out of time is recorded and
# the next one runs):
#   1. install the wheel into a scratch folder (pip --no-index --no-deps), put it on PYTHONPATH
#   2. the device, driver, CUDA and package versions; `mocha backends`
#   3. the test suite with --mocha-backend=cupy
#   4. the backend agreement tests (every kernel and layer against the NumPy reference)
#   5. LeNet on MNIST to accuracy (examples/mnist/lenet_idx.py, 2000 iterations, on cupy)
#   6. `mocha bench` (LeNet, CIFAR-10) against PyTorch CUDA eager on the same card
# and writes benchmarks/results/gpu-<date>.md with every figure (copied to $OUT too, where the
# device tool collects files). Exit status: 0 all steps passed, 1 some step failed, 2 this
# machine cannot run it (no CuPy, no wheel), with the reason.
#
#   --dry-run   check the prerequisites that do not need a GPU, print the plan, exit 0
#   env: MOCHA_GPU_WHEEL (default dist/mocha_dl-*.whl), MOCHA_MNIST_DIR (default data/mnist),
#        PYTHON (default python3), MOCHA_GPU_SUITE_S / _AGREE_S / _LENET_S / _BENCH_S (limits)
set -uo pipefail

PY="${PYTHON:-python3}"
DRY=0
for arg in "$@"; do
    case "$arg" in
    --dry-run) DRY=1 ;;
    -h | --help)
        sed -n '2,26p' "$0"
        exit 0
        ;;
    *)
        echo "run.sh: unknown argument '$arg' (see --help)" >&2
        exit 2
        ;;
    esac
done

if [ ! -f pyproject.toml ] || [ ! -d tests ] || [ ! -f benchmarks/gpu/run.sh ]; then
    echo "run.sh: run it from the repository root (bash benchmarks/gpu/run.sh)" >&2
    exit 2
fi

WHEEL="${MOCHA_GPU_WHEEL:-}"
if [ -z "$WHEEL" ]; then
    WHEEL="$(ls -t dist/mocha_dl-*.whl 2>/dev/null | head -n 1)"
fi
MNIST="${MOCHA_MNIST_DIR:-data/mnist}"
DATE="$(date -u +%Y-%m-%d)"
REPORT="benchmarks/results/gpu-${DATE}.md"
SUITE_S="${MOCHA_GPU_SUITE_S:-210}"
AGREE_S="${MOCHA_GPU_AGREE_S:-50}"
LENET_S="${MOCHA_GPU_LENET_S:-75}"
BENCH_S="${MOCHA_GPU_BENCH_S:-100}"

if [ "$DRY" = 1 ]; then
    echo "run.sh --dry-run: the plan (nothing is run)"
    echo "  python: $PY ($("$PY" --version 2>&1))"
    echo "  wheel: ${WHEEL:-MISSING (pip wheel --no-deps -w dist .)}"
    echo "  MNIST: $MNIST $([ -e "$MNIST/train-images-idx3-ubyte.gz" ] && echo found || echo 'MISSING (step 5 is skipped)')"
    echo "  limits (s): suite $SUITE_S, agreement $AGREE_S, lenet $LENET_S, bench $BENCH_S"
    echo "  report: $REPORT"
    exit 0
fi

if ! "$PY" -c "import cupy" >/dev/null 2>&1; then
    echo "run.sh: CuPy cannot be imported by $PY: this script needs a machine with a CUDA GPU" \
        "and CuPy (pip install cupy-cuda13x there); nothing was run" >&2
    exit 2
fi
if [ -z "$WHEEL" ] || [ ! -f "$WHEEL" ]; then
    echo "run.sh: no wheel of the project (dist/mocha_dl-*.whl or MOCHA_GPU_WHEEL): build it" \
        "where pip works (pip wheel --no-deps -w dist .) and carry dist/" >&2
    exit 2
fi

WORK="$(mktemp -d /tmp/mocha-gpu-XXXXXX)"
SITE="$WORK/site"
LOGS="$WORK/logs"
mkdir -p "$LOGS" benchmarks/results
STATUS=0
declare -a ROWS=()

# step NAME LIMIT_S COMMAND...: run it with a time limit, log to $LOGS/NAME.log, record a row
step() {
    local name="$1" limit="$2"
    shift 2
    local t0 rc
    t0=$(date +%s)
    echo "== $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    local secs=$(($(date +%s) - t0))
    local verdict="passed"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        verdict="TIMED OUT after ${limit} s"
    elif [ "$rc" != 0 ]; then
        verdict="FAILED (exit $rc)"
    fi
    [ "$verdict" = passed ] || STATUS=1
    ROWS+=("| $name | $verdict | $secs |")
    echo "   $verdict in ${secs}s"
    tail -n 3 "$LOGS/$name.log" | sed 's/^/   | /'
}

step install 120 "$PY" -m pip install --quiet --no-index --no-deps --no-compile --target "$SITE" "$WHEEL"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci
step versions 60 "$PY" benchmarks/gpu/versions.py "$SITE"
step backends 60 "$PY" -m mocha backends

XDIST=()
if "$PY" -c "import xdist" >/dev/null 2>&1; then
    XDIST=(-n 8 --dist loadfile)
fi
step suite "$SUITE_S" "$PY" -m pytest -q -p no:cacheprovider --mocha-backend=cupy "${XDIST[@]}" \
    --junitxml="$LOGS/suite.xml" tests
step agreement "$AGREE_S" "$PY" -m pytest -q -p no:cacheprovider --mocha-backend=cupy \
    --junitxml="$LOGS/agreement.xml" tests/plugins/backends/test_kernels_each_backend.py \
    tests/plugins/backends/test_cupy_backend.py tests/plugins/layers -k "backend or agree"
if [ -e "$MNIST/train-images-idx3-ubyte.gz" ] || [ -e "$MNIST/train-images-idx3-ubyte" ]; then
    step lenet "$LENET_S" env MOCHA_BACKEND=cupy "$PY" examples/mnist/lenet_idx.py --backend cupy \
        --data "$MNIST" --max-iter 2000 --summary-every 500
else
    ROWS+=("| lenet | SKIPPED: no MNIST at $MNIST | 0 |")
    STATUS=1
fi
step bench "$BENCH_S" env MOCHA_BACKEND=cupy MOCHA_MNIST_DIR="$MNIST" "$PY" -m mocha bench \
    --net lenet,cifar10 --threads 1 --torch-device cuda --json "$LOGS/bench.json"

"$PY" benchmarks/gpu/report.py "$LOGS" "$REPORT" "${ROWS[@]}"
echo "report: $REPORT"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    cp "$REPORT" "$OUT/" && tar -C "$WORK" -czf "$OUT/gpu-logs.tar.gz" logs
fi
exit "$STATUS"
