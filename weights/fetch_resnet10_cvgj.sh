#!/bin/sh
# Download resnet10_cvgj_iter_320000.caffemodel (cvjena model zoo, BSD-2-Clause)
# into weights/ of the checkout ($MA_WEIGHTS_DIR, /workspace/weights, in the
# image) and verify its sha256
# (7291cda37d486d442f05f80784d11e1b53d923a6da512038fee5308158b359e7);
# a download with another checksum is deleted and the script fails.
#
#   weights/fetch_resnet10_cvgj.sh                      # default URL (see README.md)
#   weights/fetch_resnet10_cvgj.sh --url URL            # a mirror, file:// URL or local path
#   MA_RESNET10_URL=URL weights/fetch_resnet10_cvgj.sh  # same, from the environment
#   weights/fetch_resnet10_cvgj.sh --out PATH           # another destination
#
# A thin wrapper around `python3 -m microattention weights fetch`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here/../python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
[ -n "${MA_WEIGHTS_DIR:-}" ] || { MA_WEIGHTS_DIR=$here; export MA_WEIGHTS_DIR; }
exec python3 -m microattention weights fetch "$@"
