#!/usr/bin/env bash
# Builds .accel/ (git-ignored), what the accelerator run carries to the H200 machine:
#   .accel/wheels  the packages its image lacks (CPython 3.12, manylinux x86-64, --no-deps;
#                  the versions this venv runs), installed there by run.sh;
#   .accel/data    Train400 and BSD68 copied from $ENHANCE_JAX_DATA (default ../shared/data):
#                  the shared data beside the checkout does not travel, .accel does (carry).
# Run here, with network to the package index, once; then on the device machine:
#   run(command="experiments/accelerator/run.sh $OUT", carry=[".accel"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${ENHANCE_JAX_DATA:-../shared/data}
PY=${PYTHON:-python3}
mkdir -p .accel/wheels .accel/data
for d in train400 bsd68; do
  rm -rf ".accel/data/$d"
  cp -r "$SRC/$d" ".accel/data/$d"
  chmod -R u+w ".accel/data/$d"
done
# Missing from the H200 image (/work/.library/device/KINDS.md lists what it has): ours
# (ml_collections, grain, dm-pix, tensorflow-datasets, tensorboardX) and their own needs.
PKGS="ml_collections==1.1.0 grain==0.2.18 array_record==0.8.6 portpicker==1.6.0
dm_pix==0.4.5 tensorboardX==2.6.5 tensorflow_datasets==4.9.10 dm-tree==0.1.10
immutabledict==4.3.1 simple_parsing==0.1.9 docstring_parser tensorflow_metadata==1.21.0
googleapis-common-protos termcolor==3.3.0 toml==0.10.2"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .accel/wheels $PKGS
# promise (a tensorflow-datasets need) ships as source only: a pure-Python wheel.
"$PY" -m pip wheel -q --no-deps --no-binary=:none: promise==2.3 -w .accel/wheels
du -sh .accel/wheels .accel/data
ls .accel/wheels
