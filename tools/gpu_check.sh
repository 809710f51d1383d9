#!/usr/bin/env bash
# GPU readiness check for a machine with one NVIDIA GPU (the CI machines have none): under 5 minutes.
#
#   bash tools/gpu_check.sh [--no-ort-gpu] [--quick] [--no-setup]
#
# 1. tools/setup.sh (the same environment as CI);
# 2. onnxruntime-gpu (optional, skip with --no-ort-gpu): when the installed onnxruntime has no CUDA execution
#    provider, onnxruntime-gpu and its CUDA libraries are pip-installed into runs/gpu_check/ort-gpu/ and put first
#    on PYTHONPATH / LD_LIBRARY_PATH for the steps below; .venv itself is not changed;
# 3. the CUDA tests (test/runtime/test_cuda.py: torch fp16 + channels_last + warm-up, fp32 without TF32,
#    onnxruntime CUDA / TensorRT providers, the shipped model's agreement on CUDA) and test/pipeline's agreement
#    tests when present;
# 4. `panoptic bench model` and `panoptic bench compare` for every runtime that runs on CUDA here
#    (--runtime R --device cuda; skipped with a note when there is no CUDA device or the bench has no --device).
# Every step is recorded, failed or not, in runs/gpu_check.json (command, exit code, seconds, last output
# lines, and the JSON the bench wrote); a missing command or a failed step does not stop the others.
# --quick: fewer bench repeats and sizes. --no-setup: use the environment as it is (skips step 1's setup.sh).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=runs/gpu_check
SUMMARY=runs/gpu_check.json
ORT_GPU=1
SETUP=1
REPEATS=10
SIZES="640x480 1280x720"
for arg in "$@"; do
  case "$arg" in
    --no-ort-gpu) ORT_GPU=0 ;;
    --quick) REPEATS=3; SIZES="640x480" ;;
    --no-setup) SETUP=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown option $arg" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
STEPS="$OUT/steps.jsonl"
: > "$STEPS"
T0=$SECONDS

# step NAME JSON_OUTPUT_OR_- CMD...: run CMD (time limit 240 s), log to $OUT/NAME.log, append a record to $STEPS
step() {
  local name=$1 json=$2; shift 2
  local log="$OUT/$name.log" start=$SECONDS rc
  echo "[gpu_check $((SECONDS - T0))s] $name: $*"
  timeout 240 "$@" > "$log" 2>&1
  rc=$?
  python3 - "$name" "$rc" "$((SECONDS - start))" "$log" "$json" "$@" >> "$STEPS" <<'PY'
import json, sys
name, rc, seconds, log, out_json, *cmd = sys.argv[1:]
with open(log, errors="replace") as f:
    tail = f.read().splitlines()[-15:]
record = {"step": name, "command": cmd, "exit_code": int(rc), "ok": rc == "0", "seconds": int(seconds),
          "log": log, "tail": tail}
if rc == "127":
    record["error"] = "command not found"
elif rc == "124":
    record["error"] = "timed out (240 s)"
if out_json != "-":
    try:
        with open(out_json) as f:
            record["result"] = json.load(f)
    except (OSError, ValueError) as exc:
        record["result_error"] = f"{out_json}: {exc}"
print(json.dumps(record))
PY
  echo "[gpu_check $((SECONDS - T0))s] $name: exit $rc"
  return 0
}

# 1. environment
[ "$SETUP" = 1 ] && step setup - bash tools/setup.sh
set +u  # the ROS setup scripts read unset variables
if [ ! -f tools/env.sh ] || ! . tools/env.sh; then
  echo "gpu_check: tools/env.sh failed; continuing with the current Python" >&2
fi
set -u
step nvidia_smi - nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
step torch_cuda - python -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")'

# 2. onnxruntime-gpu in an overlay folder (only when the installed onnxruntime cannot run CUDA)
has_ort_cuda() { python -c 'import onnxruntime as o, sys; sys.exit("CUDAExecutionProvider" not in o.get_available_providers())' 2>/dev/null; }
if [ "$ORT_GPU" = 1 ] && ! has_ort_cuda; then
  OVERLAY="$ROOT/$OUT/ort-gpu"
  step ort_gpu_install - pip install -q --disable-pip-version-check --target "$OVERLAY" \
    "onnxruntime-gpu[cuda,cudnn]==1.31.1"
  # keep only onnxruntime and the NVIDIA libraries from the overlay: numpy, protobuf ... stay the venv's pins
  find "$OVERLAY" -mindepth 1 -maxdepth 1 ! -name 'onnxruntime*' ! -name 'nvidia*' -exec rm -rf {} + 2>/dev/null
  export PYTHONPATH="$OVERLAY${PYTHONPATH:+:$PYTHONPATH}"
  NV_LIBS=$(find "$OVERLAY/nvidia" -maxdepth 2 -type d -name lib 2>/dev/null | paste -sd: -)
  [ -n "$NV_LIBS" ] && export LD_LIBRARY_PATH="$NV_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
step ort_providers - python -c 'import onnxruntime as o; print(o.__version__, o.get_available_providers())'

# 3. tests: the CUDA paths and the agreement of the CUDA runtimes with torch eager (test_cuda.py)
step tests_cuda - python -m pytest -q -rA test/runtime/test_cuda.py
if ls test/pipeline/*agree* >/dev/null 2>&1; then
  step tests_pipeline_agreement - python -m pytest -q test/pipeline -k agree
fi

# 4. benchmarks for every runtime that runs on CUDA here
RUNTIMES=$(python -c '
from panoptic_ros.runtime import RUNTIMES
import torch
for name in RUNTIMES.names():
    cls = RUNTIMES.get(name)
    if cls.unavailable_reason() is None and "cuda" in cls.device_types and torch.cuda.is_available():
        try:
            from panoptic_ros.runtime import resolve_precision
            resolve_precision(cls, torch.device("cuda"), "auto")
        except ValueError:
            continue
        print(name)' 2>/dev/null)
note() { python3 -c 'import json, sys; print(json.dumps({"step": sys.argv[1], "note": sys.argv[2]}))' "$1" "$2" >> "$STEPS"; }
if [ -z "$RUNTIMES" ]; then
  note benchmarks "no CUDA device (or no runtime runs on it): benchmarks skipped"
fi
COMPARE_ON_CUDA=0
if panoptic bench compare --help 2>/dev/null | grep -q -- "--device"; then COMPARE_ON_CUDA=1; fi
for R in $RUNTIMES; do
  # shellcheck disable=SC2086
  step "bench_model_$R" "$OUT/bench_model_$R/model.json" panoptic bench model --device cuda --sizes $SIZES \
    --variants torch:fp32:image "$R:auto:image" "$R:auto:output" --repeats "$REPEATS" --out "$OUT/bench_model_$R"
  if [ "$COMPARE_ON_CUDA" = 1 ]; then
    step "bench_compare_$R" "$OUT/bench_compare_$R/compare.json" panoptic bench compare --runtime "$R" \
      --device cuda --repeats "$REPEATS" --out "$OUT/bench_compare_$R"
  else
    note "bench_compare_$R" "panoptic bench compare has no --device option (or is missing): skipped, it would run on the CPU"
  fi
done

# summary
python3 - "$STEPS" "$SUMMARY" "$((SECONDS - T0))" <<'PY'
import json, platform, sys, time
steps_file, summary, seconds = sys.argv[1:]
records = [json.loads(line) for line in open(steps_file) if line.strip()]
steps = [r for r in records if "exit_code" in r]
notes = [r for r in records if "exit_code" not in r]
report = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": platform.node(), "seconds": int(seconds),
          "ok": all(r["ok"] for r in steps), "failed": [r["step"] for r in steps if not r["ok"]],
          "notes": notes, "steps": steps}
with open(summary, "w") as f:
    json.dump(report, f, indent=2)
print(f"gpu_check: {len(steps) - len(report['failed'])}/{len(steps)} steps ok in {seconds} s -> {summary}"
      + (f"; failed: {', '.join(report['failed'])}" if report["failed"] else ""))
PY
