#!/usr/bin/env bash
# The accelerator run (run.py beside this file says what it measures):
#
#   experiments/accelerator/run.sh OUT_DIR [--cpu_dry_run] [run.py flags]
#
# 1. Installs the wheels in $ENHANCE_JAX_WHEELS (default .accel/wheels, made by
#    prepare.sh; the H200 image has no package index) into /tmp/ej_site, if any.
# 2. Points ENHANCE_JAX_DATA at .accel/data when it is unset and that folder exists.
# 3. Runs run.py, teeing its log to OUT_DIR/run.log; results in OUT_DIR/accelerator.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: $0 OUT_DIR [--cpu_dry_run] [run.py flags]" >&2
  exit 2
fi
OUT=$1
shift
mkdir -p "$OUT" || exit 1
PY=${PYTHON:-python3}
WHEELS=${ENHANCE_JAX_WHEELS:-.accel/wheels}
DRY=0
for a in "$@"; do [ "$a" = "--cpu_dry_run" ] && DRY=1; done
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  if [ $DRY = 1 ]; then  # here: only check they would install on the H200's Python 3.12
    echo "checking $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS for CPython 3.12 x86-64"
    "$PY" -m pip install -q --dry-run --no-index --no-deps --only-binary=:all: \
      --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --target /tmp/ej_site_check "$WHEELS"/*.whl \
      || { echo "error: a wheel in $WHEELS would not install on the H200" >&2; exit 1; }
  else
    echo "installing $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/ej_site "$WHEELS"/*.whl || { echo "error: wheel install failed" >&2; exit 1; }
    export PYTHONPATH=/tmp/ej_site${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
if [ -z "${ENHANCE_JAX_DATA:-}" ] && [ -d .accel/data ]; then
  export ENHANCE_JAX_DATA=$PWD/.accel/data
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
"$PY" experiments/accelerator/run.py --out="$OUT" "$@" 2>&1 | tee "$OUT/run.log"
exit "${PIPESTATUS[0]}"
