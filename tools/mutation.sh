#!/usr/bin/env bash
# usage: tools/mutation.sh [WORK_DIR]   (make mutation; not part of CI: it takes about an hour on 2 cores)
# Mutation testing with mutmut (pinned in requirements-dev.txt) of the modules tools/mutation.cfg names, on a copy
# of the work tree in WORK_DIR (default /tmp/panoptic_mutation): mutmut rewrites the sources it runs, so the
# repository itself is never touched and tests running in it meanwhile are unaffected.
# Writes runs/mutation/report.md (counts per module, every survivor with its diff, those listed in
# tools/mutation_equivalent.txt marked equivalent) and runs/mutation/summary.json.
set -eo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${1:-${MUTATION_DIR:-/tmp/panoptic_mutation}}
OUT=$ROOT/runs/mutation
CHILDREN=${MUTATION_CHILDREN:-2}
. "$ROOT/tools/env.sh"
pip install -q --disable-pip-version-check -r "$ROOT/requirements-dev.txt" 2>&1 | grep -v "is ignored: it is neither" || true

case "$WORK" in "$ROOT"|"$ROOT"/*|/) echo "mutation: WORK_DIR must lie outside the repository" >&2; exit 2;; esac
rm -rf "$WORK" && mkdir -p "$WORK" "$OUT"
# the tracked and new (not ignored) files of the package and its tests, as they are in the work tree
(cd "$ROOT" && git ls-files -co --exclude-standard -- panoptic_ros test pytest.ini | grep -v __pycache__ \
  | tar -cf - -T -) | tar -xf - -C "$WORK"
cp "$ROOT/tools/mutation.cfg" "$WORK/setup.cfg"
# the copy's package first, never the repository's (env.sh put $ROOT on PYTHONPATH)
export PYTHONPATH="$WORK${PYTHONPATH:+:${PYTHONPATH//$ROOT:/}}"
cd "$WORK"
echo "[mutation] mutmut run in $WORK ($CHILDREN children); progress: $WORK/mutmut.log"
mutmut run --max-children "$CHILDREN" > "$WORK/mutmut.log" 2>&1 || { tail -30 "$WORK/mutmut.log"; exit 1; }
mutmut results --all true > "$WORK/results.txt" 2>&1 || true
python "$ROOT/tools/mutation_report.py" "$WORK" "$ROOT/tools/mutation_equivalent.txt" "$OUT"
