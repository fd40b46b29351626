#!/usr/bin/env bash
# The GPU tests and benchmarks as one prepared device call, for a session that is
# lent a GPU machine (no network there; its own PyTorch; the project runs from the tree):
#
#   bash benchmarks/gpu_session.sh                      # every step below, ≤ 560 s in all
#   bash benchmarks/gpu_session.sh bench_gpu levers_1   # only these steps
#   SMOKE=1 bash benchmarks/gpu_session.sh              # on a CPU: tiny sizes, checks the script
#
# Steps (each under its own time limit, so a hang costs only its share; a failed step does
# not stop the next): env (GPU, driver, torch), test_gpu (`pytest -m gpu tests/test_gpu.py`:
# bf16 vs fp32, NCCL DDP, GPU vs CPU evaluation, fused path), bench_gpu (forward ms at 256²
# beside the paper's 13.1 / 8 ms, training samples/s per GPU at 384², batch 8, stages 1 and
# 2), levers_1 and levers_2 (benchmarks/bench_train_levers.py: each speed lever alone, the
# kept ones together; stage 1 also compares 300-step loss curves with fp32).
# Output: one <step>.txt per step and steps.tsv (step, exit code, seconds) under $OUT (the
# device tool's output folder) or benchmarks/gpu_out/. Record the numbers in
# benchmarks/README.md with the device named.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/gpu_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
STEPS=(env test_gpu bench_gpu levers_1 levers_2)

if [[ "${SMOKE:-0}" == 1 ]]; then
  BENCH=(--device cpu --size 32 --crop 32 --batch 2 --repeats 1 --warmup 0 --train-repeats 1)
  LEVERS=(--device cpu --width 8 --blocks 1 --crop 32 --batch 2 --steps 1 --warmup 0 --rounds 1
    --levers channels_last)
  CURVE=(--curve 3)
else
  BENCH=()
  LEVERS=()
  CURVE=(--curve 300)
fi

run_step() { # name seconds command...
  local name=$1 seconds=$2 start=$SECONDS rc
  shift 2
  timeout "$seconds" "$@" >"$OUT/$name.txt" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" | tee -a "$OUT/steps.tsv"
  return "$rc"
}

step() {
  case $1 in
    env) run_step env 30 "$PY" -c 'import subprocess, sys, torch
print(sys.version)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0))
    print(subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout)' ;;
    test_gpu) run_step test_gpu 120 "$PY" -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider ;;
    bench_gpu) run_step bench_gpu 120 "$PY" benchmarks/bench_gpu.py "${BENCH[@]}" ;;
    levers_1) run_step levers_1 180 "$PY" benchmarks/bench_train_levers.py --stage 1 "${LEVERS[@]}" "${CURVE[@]}" ;;
    levers_2) run_step levers_2 110 "$PY" benchmarks/bench_train_levers.py --stage 2 "${LEVERS[@]}" ;;
    *) echo "gpu_session.sh: unknown step '$1' (${STEPS[*]})" >&2
      return 2 ;;
  esac
}

(($# > 0)) || set -- "${STEPS[@]}"
printf 'step\texit\tseconds\n' >"$OUT/steps.tsv"
failed=0
for name in "$@"; do
  step "$name" || failed=1
done
exit "$failed"
