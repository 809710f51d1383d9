#!/usr/bin/env bash
# Idempotent set-up used by both README commands (make demo / make test) and CI:
#   1. .venv with the pinned requirements (skipped while requirements.txt is unchanged)
#   2. the ROS wheels' CMake files repaired to this venv's include dirs
#   3. colcon build of this package (messages + Python + node) into .ws/ (skipped while the
#      package's build inputs and file list are unchanged; --symlink-install, so edits to
#      existing Python files need no rebuild)
set -eo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${PANOPTIC_VENV:-$ROOT/.venv}
WS=$ROOT/.ws
PYTHON=${PYTHON:-python3}
T0=$SECONDS
say() { echo "[setup $((SECONDS - T0))s] $*"; }

if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
  say "installing cmake and a C++ compiler (apt)"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends cmake build-essential >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "CPython 3.11 is required (ROS 2 wheels are cp311): " + sys.version'
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
. "$VENV/bin/activate"

REQ_SHA=$(cat "$ROOT/requirements.txt" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.panoptic-requirements" 2>/dev/null)" != "$REQ_SHA" ]; then
  say "pip install -r requirements.txt (about 3 minutes, 6 GB the first time)"
  pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2>&1 | grep -v "is ignored: it is neither" || true
  pip install -q --disable-pip-version-check --no-deps -e "$ROOT" 2>&1 | grep -v "is ignored: it is neither" || true
  pip check
  # the managed node (issue 10) needs rclpy.lifecycle: ros-rcl-lifecycle + ros-lifecycle-msgs, pinned above
  python -c 'from rclpy.lifecycle import LifecycleNode' || { echo "setup: rclpy.lifecycle does not import" >&2; exit 1; }
  echo "$REQ_SHA" > "$VENV/.panoptic-requirements"
else
  say "python requirements up to date"
fi

# Reference trackers and metrics the tests compare with (requirements-reference.txt): --no-deps into their own
# folder (they require opencv-python, which clashes with opencv-python-headless); env.sh puts it on PYTHONPATH.
REF=$VENV/reference
REF_SHA=$(sha256sum < "$ROOT/requirements-reference.txt" | cut -d' ' -f1)
if [ "$(cat "$REF/.panoptic-reference" 2>/dev/null)" != "$REF_SHA" ]; then
  say "pip install --no-deps --target $REF -r requirements-reference.txt"
  rm -rf "$REF"
  pip install -q --disable-pip-version-check --no-deps --target "$REF" -r "$ROOT/requirements-reference.txt" 2>&1 \
    | grep -v "is ignored: it is neither" || true
  PYTHONPATH="$REF" python -c 'import trackeval, boxmot; from boxmot import ByteTrack, OcSort' \
    || { echo "setup: the reference packages in $REF do not import" >&2; exit 1; }
  echo "$REF_SHA" > "$REF/.panoptic-reference"
else
  say "reference packages up to date"
fi

# The ROS wheels were built on a manylinux box; their CMake exports name its include dirs.
PYINC=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$(python -c 'import numpy; print(numpy.get_include())')
{ grep -rlI --include='*.cmake' '/opt/python/cp311-cp311' "$VIRTUAL_ENV/share" 2>/dev/null || true; } | xargs -r sed -i \
  -e "s|/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include|$NPINC|g" \
  -e "s|/opt/python/cp311-cp311/include/python3.11|$PYINC|g"
if grep -rlI --include='*.cmake' '/opt/python/cp311-cp311' "$VIRTUAL_ENV/share"; then
  echo "setup: unpatched /opt/python paths remain in the ROS CMake files" >&2; exit 1
fi

export AMENT_PREFIX_PATH="$VIRTUAL_ENV"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV"
BUILD_SHA=$( (cd "$ROOT" && { git ls-files -co --exclude-standard panoptic_ros msg launch params rviz scripts 2>/dev/null \
  || find panoptic_ros msg launch params rviz scripts -type f; } | grep -v __pycache__ | sort;
  cat CMakeLists.txt package.xml msg/*.msg; echo "$VIRTUAL_ENV") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$WS/.panoptic-build" 2>/dev/null)" != "$BUILD_SHA" ] || [ ! -f "$WS/install/setup.bash" ]; then
  say "colcon build into $WS"
  mkdir -p "$WS/src"
  ln -sfn "$ROOT" "$WS/src/panoptic_ros"
  if ! (cd "$WS" && colcon build --symlink-install --event-handlers console_direct- \
        --cmake-args -DBUILD_TESTING=OFF > "$WS/build.log" 2>&1); then
    tail -40 "$WS/build.log"; echo "setup: colcon build failed, full log: $WS/build.log" >&2; exit 1
  fi
  echo "$BUILD_SHA" > "$WS/.panoptic-build"
else
  say "colcon workspace up to date"
fi
say "ready"
