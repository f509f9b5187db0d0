#!/bin/sh
# Train and test one fold of a protocol with Caffe, e.g.
#   tools/train_fold.sh loso sub01 --index casme2.csv --faces faces/casme2 \
#       --weights weights/micro_attention_macro.caffemodel
# Further options (--net, --run-dir, --epochs, --seed, --gpu) are passed on;
# see `python3 -m microattention train-fold --help`. Results go to
# RUN_DIR/<protocol>/<net>/<fold>/ (default workspace/runs, /workspace/runs in
# the image); running it again resumes an unfinished fold and skips a finished one.
set -e
if [ $# -lt 2 ]; then
  echo "usage: $0 PROTOCOL FOLD --index INDEX.csv --faces DIR --weights INIT.caffemodel [options]" >&2
  exit 2
fi
PROTOCOL=$1
FOLD=$2
shift 2
exec python3 -m microattention train-fold --protocol "$PROTOCOL" --fold "$FOLD" "$@"
