#!/usr/bin/env python3
"""Write the committed solvers (solvers/*.prototxt) from the protocol table.

    python3 tools/make_solvers.py            # rewrite solvers/{pretrain,hde,cde,loso,finetune}.prototxt
    python3 tools/make_solvers.py --check    # exit 1 if a committed file differs from what this writes

Every number comes from microattention.protocols.PROTOCOLS and the reference
set sizes in microattention.nets.committed_solvers.REFERENCE (committed_text there);
tests run --check. Plain Python: no Caffe needed.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from microattention import files  # noqa: E402
from microattention.nets import committed_solvers  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed files instead of writing them")
    args = ap.parse_args(argv)
    status = 0
    for name in committed_solvers.COMMITTED:
        path = os.path.join(ROOT, "solvers", name + ".prototxt")
        text = committed_solvers.committed_text(name)
        if not files.write_or_check(path, text, args.check, ROOT):
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
