#!/usr/bin/env bash
# The policy comparison's variant runs on identical inputs (docs/policies.md): one setting changed per run.
# Usage: bash tools/run.sh bash tools/compare_policies.sh val|val_overlap quality|centerness|baseline|stuff0|nolevel|exact
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODEL=${MODEL:-panoptic_ros/weights/default.safetensors}
OUT=${OUT:-runs/policies}
mkdir -p "$OUT"
run() {  # name split policy overrides...
  local name=$1 split=$2 policy=$3; shift 3
  OMP_NUM_THREADS=1 panoptic eval --model "$MODEL" --runtime torch --precision fp32 --data "runs/synth/$split" \
    --policy "$policy" --out "$OUT/${name}_$split" --no-predictions --no-progress "$@" > "$OUT/${name}_$split.log" 2>&1
}
split=$1
case $2 in
  quality) run borderness_score "$split" all inference.score_quality=borderness ;;
  centerness) run centerness_score "$split" all inference.score_quality=centerness ;;
  baseline) run mask_baseline "$split" mask_heuristic inference.mask_heuristics=baseline ;;
  stuff0) run stuff0 "$split" all inference.stuff_area_threshold=0 ;;
  nolevel) run nolevel "$split" dense_iou inference.dense_iou_levelness=false ;;
  exact) run exact "$split" closest_center inference.fuse_resolution=image ;;
esac
