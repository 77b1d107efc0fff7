#!/usr/bin/env bash
# The checks that need a GPU, in one go (run from the repository root on a CUDA machine):
#   1. the GPU tests and the language-model tests, which train on the GPU when there is one;
#   2. benchmarks/train_bench.py on the GPU (our loop vs HF Trainer, batched generation);
#   3. `ecgbyte demo`, timed.
# Logs and JSON go to $OUT (default: gpu_out/). PYTHON picks the interpreter (default: python3).
set -uo pipefail
out=${OUT:-gpu_out}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi -L
$py -c "import torch, transformers, accelerate, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__, 'peft', peft.__version__, torch.cuda.get_device_name(0))"
timeout "${TEST_TIMEOUT:-240}" $py -m pytest -q -p no:cacheprovider -rs \
  tests/test_elm_gpu.py tests/test_elm_train.py tests/test_elm_two_stage.py tests/test_eval_two_stage.py \
  tests/test_eval_ablations.py tests/test_ask.py tests/test_report.py tests/test_paper_path.py \
  tests/test_ecg_tokenizer.py 2>&1 | tee "$out/pytest_gpu.log"
timeout "${BENCH_TIMEOUT:-150}" $py benchmarks/train_bench.py --threads 8 --out "$out/train_bench_gpu.json" 2>&1 \
  | tee "$out/train_bench_gpu.log"
start=$(date +%s)
timeout "${DEMO_TIMEOUT:-150}" $py -m ecgbyte.cli demo --out /tmp/gpu_demo --no-progress 2>&1 | tee "$out/demo_gpu.log"
echo "demo: exit ${PIPESTATUS[0]} after $(( $(date +%s) - start )) s"
cp /tmp/gpu_demo/results.json "$out/demo_results.json" 2>/dev/null || true
