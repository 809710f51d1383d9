#!/usr/bin/env bash
# usage: tools/run.sh COMMAND...   run a command inside the set-up environment (after tools/setup.sh)
set -eo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$@"
