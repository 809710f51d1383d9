#!/usr/bin/env bash
# Reproduce the shipped default model in one command (`make model`, or `bash tools/run.sh bash tools/train_default_model.sh`):
#   1. regenerate the synthetic data with fixed seeds: train, val, and an overlap-heavy val split;
#   2. train with panoptic_ros/configs/synth_default.yaml (extra arguments are passed to `panoptic train` as
#      overrides, e.g. solver.epochs=2 for a quick check);
#   3. evaluate the merge policies on both val splits (PQ, PQth, PQst, mIoU, box AP, FPS on this machine) on the
#      default path (runtime / precision auto: onnxruntime int8 on an AVX2 CPU; every policy runs on every runtime);
#   4. release the final checkpoint as panoptic_ros/weights/default.safetensors (+ .json; float16 storage keeps it
#      a few MB) with the evaluation report in its sidecar, and write OUT/report.json.
# Environment: DATA (default runs/synth), OUT (runs/default_model), NUM_TRAIN (1000), NUM_VAL (100),
# MODELS (panoptic_ros/weights: where default.safetensors goes). About 40 minutes on 2 quiet AVX2 cores
# (0.75 s per iteration of 4 images).
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONFIG=panoptic_ros/configs/synth_default.yaml
DATA=${DATA:-runs/synth}
OUT=${OUT:-runs/default_model}
NUM_TRAIN=${NUM_TRAIN:-1000}
NUM_VAL=${NUM_VAL:-100}
MODELS=${MODELS:-panoptic_ros/weights}

echo "== 1/4 synthetic data in $DATA"
rm -rf "$DATA/train" "$DATA/val" "$DATA/val_overlap"
panoptic synth --out "$DATA/train" --num "$NUM_TRAIN" --seed 1
panoptic synth --out "$DATA/val" --num "$NUM_VAL" --seed 2
panoptic synth --out "$DATA/val_overlap" --num "$NUM_VAL" --seed 3 --overlap heavy

echo "== 2/4 training (config $CONFIG, output $OUT)"
rm -rf "$OUT"
start=$(date +%s)
panoptic train --config "$CONFIG" "data.train=$DATA/train" "data.val=$DATA/val" "solver.output_dir=$OUT" "$@"
echo "training took $(( $(date +%s) - start )) s"

echo "== 3/4 evaluation, all merge policies"
panoptic eval --model "$OUT/final.safetensors" --data "$DATA/val" --policy all --out "$OUT/eval_val"
panoptic eval --model "$OUT/final.safetensors" --data "$DATA/val_overlap" --policy all --out "$OUT/eval_val_overlap"

echo "== 4/4 default model -> $MODELS (weights stored as float16)"
python - "$OUT" "$MODELS/default.safetensors" <<'PY'
import json, sys
from pathlib import Path
from panoptic_ros.engine.release import release_checkpoint, report_table
out, dst = Path(sys.argv[1]), Path(sys.argv[2])
report = {split: json.loads((out / f"eval_{split}" / "summary.json").read_text()) for split in ("val", "val_overlap")}
train = json.loads((out / "train_summary.json").read_text())
report["training"] = {"epochs": train["epochs_done"], "iterations": train["iterations"],
                      "seconds": round(train["seconds"]), "device": train["device"]}
(out / "report.json").write_text(json.dumps(report, indent=2))
release_checkpoint(out / "final.safetensors", dst, extra={"evaluation": report})  # the sidecar documents its numbers
print(report_table(report))
print(f"report: {out / 'report.json'}")
PY
ls -l "$MODELS/default.safetensors" "$MODELS/default.json"
