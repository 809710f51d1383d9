#!/usr/bin/env bash
# Add the optional heads of the merge policies dense_iou / paste_borderness / mask_heuristic (levelness, border-ness,
# RoI mask head; docs/policies.md) to the shipped default model without changing anything else it computes:
#   1. copy the current shipped model to OUT/base.safetensors (the starting point; kept for reproducibility);
#   2. train only the new heads on the frozen network (model.freeze = every other part, BatchNorm statistics fixed,
#      no precise-BN pass), initialised from OUT/base.safetensors (model.init_weights), on the synthetic train split;
#   3. evaluate every merge policy on both val splits (torch runtime, fp32);
#   4. release OUT/train/final.safetensors as panoptic_ros/weights/default.safetensors (+ .json, float16 storage)
#      with the evaluation in its sidecar.
# Because the rest of the network is frozen, every output the three original policies read is bit-identical to the
# base model's, so their PQ does not move. tools/train_default_model.sh trains the same network (heads included,
# panoptic_ros/configs/synth_default.yaml) from scratch instead: about 40 min on quiet 2 cores, not what shipped.
# Environment: DATA (runs/synth, made by tools/train_default_model.sh or `panoptic synth`), OUT (runs/default_heads),
# BASE (the model to extend; default: the shipped one), EPOCHS (4), STEPS (train,eval,release).
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONFIG=panoptic_ros/configs/synth_default.yaml
DATA=${DATA:-runs/synth}
OUT=${OUT:-runs/default_heads}
BASE=${BASE:-panoptic_ros/weights/default.safetensors}
EPOCHS=${EPOCHS:-4}
STEPS=${STEPS:-train,eval,release}
MODELS=${MODELS:-panoptic_ros/weights}
FROZEN="[backbone,fpn,detection_head,semantic_head,center_head]"

if [[ $STEPS == *train* ]]; then
  echo "== 1/4 base model $BASE -> $OUT/base.safetensors"
  mkdir -p "$OUT"
  if [[ ! -f "$OUT/base.safetensors" ]]; then
    cp "$BASE" "$OUT/base.safetensors"
    cp "${BASE%.safetensors}.json" "$OUT/base.json"
  fi
  echo "== 2/4 training the new heads on the frozen network ($EPOCHS epochs)"
  rm -rf "$OUT/train"
  start=$(date +%s)
  panoptic train --config "$CONFIG" "data.train=$DATA/train" "data.val=$DATA/val" "solver.output_dir=$OUT/train" \
    "model.init_weights=$OUT/base.safetensors" "model.freeze=$FROZEN" "solver.epochs=$EPOCHS" \
    "solver.lr_steps=[$((EPOCHS - 1))]" --precise-bn 0 "$@"
  echo "head training took $(( $(date +%s) - start )) s"
fi

if [[ $STEPS == *eval* ]]; then
  echo "== 3/4 evaluation, all merge policies"
  # torch fp32: the runtime that runs all six policies (the exported runtimes have no RoI mask head)
  for split in val val_overlap; do
    panoptic eval --model "$OUT/train/final.safetensors" --data "$DATA/$split" --policy all --runtime torch \
      --precision fp32 --out "$OUT/eval_$split" --no-predictions
  done
fi

if [[ $STEPS == *release* ]]; then
  echo "== 4/4 default model -> $MODELS (weights stored as float16)"
  python - "$OUT" "$MODELS/default.safetensors" <<'PY'
import json, sys
from pathlib import Path
from panoptic_ros.engine.release import release_checkpoint, report_table
out, dst = Path(sys.argv[1]), Path(sys.argv[2])
report = {split: json.loads((out / f"eval_{split}" / "summary.json").read_text()) for split in ("val", "val_overlap")}
train = json.loads((out / "train" / "train_summary.json").read_text())
base = json.loads((out / "base.json").read_text())
report["training"] = {**(base.get("extra", {}).get("evaluation", {}).get("training", {})),
                      "heads": {"epochs": train["epochs_done"], "iterations": train["iterations"],
                                "seconds": round(train["seconds"]), "device": train["device"],
                                "how": "tools/train_default_heads.sh: new heads on the frozen base network"}}
(out / "report.json").write_text(json.dumps(report, indent=2))
release_checkpoint(out / "train" / "final.safetensors", dst, extra={"evaluation": report})
# the released config describes the network and how its trunk was trained (the base model's solver); how the new
# heads were fitted goes to extra.heads_training
side_path = dst.with_suffix(".json")
side = json.loads(side_path.read_text())
model = side["config"]["model"]
side["extra"]["heads_training"] = {"init_weights": model.pop("init_weights", ""), "freeze": model.pop("freeze", []),
                                   "solver": side["config"]["solver"], "iterations": train["iterations"],
                                   "script": "tools/train_default_heads.sh"}
side["config"]["solver"] = base["config"]["solver"]
side_path.write_text(json.dumps(side, indent=2))
print(report_table(report))
print(f"report: {out / 'report.json'}")
PY
  ls -l "$MODELS/default.safetensors" "$MODELS/default.json"
fi
