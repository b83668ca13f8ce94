#!/usr/bin/env bash
# Every check that needs a GPU, in one go (a lent GPU machine's time is short): the CUDA tests,
# then the GPU benchmarks beside the paper's Tables 7 and 8. Logs go to $1 (default benchmarks/out).
#
#   bash benchmarks/gpu_checks.sh [log folder]
#
# Needs: CUDA, CuPy, the repository's Python dependencies, results/default/data (any run's prepared
# examples) and the prepared model's tokenizer files under resources/models/smollm2-135m-instruct/
# (its weights are not needed: the benchmarks time random weights of the same architecture).
set -uo pipefail
cd "$(dirname "$0")/.."
LOGS="${1:-benchmarks/out}"
mkdir -p "$LOGS"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$LOGS/device.log"
"$PY" -c "import torch, cupy, transformers; print('torch', torch.__version__, 'cupy', cupy.__version__, 'transformers', transformers.__version__)" | tee -a "$LOGS/device.log"

# the CUDA paths against their CPU twins, and the kernels' compilation
timeout 150 "$PY" -m pytest -q -rs tests/test_cuda_paths.py tests/test_projection.py -k "cuda or cupy" 2>&1 | tee "$LOGS/tests.log"

# Table 7: per-example PEF seconds and each stage against its floor, default model and the paper's
for arch in smollm2-135m smollm2-360m; do
    timeout 140 "$PY" benchmarks/pef_cost.py results/default --device cuda \
        --architecture "benchmarks/architectures/$arch.json" 2>&1 | tee "$LOGS/pef_cost_$arch.log"
done

# Table 8: the decomposition step at the paper's sizes
timeout 100 "$PY" benchmarks/decompose_step.py --device cuda --tasks sst2 clinc150 triviaqa yat 2>&1 \
    | tee "$LOGS/decompose_step.log"
