#!/bin/sh
# Stock `caffe train` with one of these solvers, run from the project root:
#   solvers/train.sh solvers/finetune.prototxt -weights W [other caffe train options]
# It checks that it runs from the project root, makes the folder of the
# solver's snapshot_prefix should it have been deleted (caffe stops at start
# without it) and passes every other argument on to `caffe train`. $CAFFE
# names another caffe binary.
[ $# -ge 1 ] || { echo "usage: $0 SOLVER [caffe train options, e.g. -weights W]" >&2; exit 2; }
solver=$1
shift
[ -f "$solver" ] || { echo "$0: no solver file $solver" >&2; exit 1; }
field() {
  sed -n "s/^[[:space:]]*$1:[[:space:]]*\"\(.*\)\".*/\1/p" "$solver" | tail -n 1
}
net=$(field net)
if [ -n "$net" ] && [ ! -f "$net" ]; then
  echo "$0: $solver names $net, which is not here: run from the project root" >&2
  exit 1
fi
prefix=$(field snapshot_prefix)
if [ -n "$prefix" ]; then
  mkdir -p "$(dirname "$prefix")" || exit 1
fi
exec "${CAFFE:-caffe}" train -solver "$solver" "$@"
