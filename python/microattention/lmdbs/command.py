"""Write the Caffe LMDB of one split: Datum records (1 x H x W raw uint8 gray,
integer label) read in key order by the nets' Data layer.

Training splits are resampled to equal class sizes and augmented as the
protocol table says (protocols.PROTOCOLS[p].augmentation and .resample; how
the two combine is described in microattention/augment.py), then shuffled
with --seed; keys are %08d, so the LMDB order is the shuffled order. Test and
validation splits hold each face once, unaugmented, resized to the nets'
224x224 input. Pre-training holds out --val-fraction of the images (by class,
whole clips only) as --split val.

The LMDB is built under a temporary name and renamed when complete; a JSON
sidecar OUT.json lists every record (key, sample id, label, augmentation and
its drawn parameters), the class numbers, the class counts before and after
resampling, the seed and the protocol. A second run with the same inputs,
options and seed reuses the LMDB (--force rebuilds).

Class numbers (one table, CLASSES): micro (CASME II, SAMM) and macro (CK+,
Oulu-CASIA, JAFFE, MUG): 0 happiness, 1 surprise, 2 anger, 3 disgust,
4 sadness (the paper's Table 5 order); SMIC: 0 positive, 1 negative,
2 surprise.

'lmdb inspect DIR' prints the records per label and writes a contact sheet.

The stage's parts: inputs.py (index, faces, selection), build.py (plan,
sidecar, the build), encoding.py (the worker pool), writer.py (LMDB writing
and locking), records.py (Caffe's Datum, encoded and read) and sheet.py
(inspect); this file is the command line.
"""
import argparse
import sys

from microattention import files, protocols
from microattention.errors import UserError
from microattention.lmdbs.build import VAL_FRACTION, build
from microattention.lmdbs.sheet import inspect

EXAMPLES = """\
examples:
  # LOSO fold of subject sub01 of CASME II (training side, then test side)
  python3 -m microattention lmdb --index casme2.csv --faces faces/casme2 \\
      --protocol loso --exclude-subjects sub01 --out lmdb/loso-sub01/train
  python3 -m microattention lmdb --index casme2.csv --faces faces/casme2 \\
      --protocol loso --split test --subjects sub01 --out lmdb/loso-sub01/test
  # pre-training on the pooled macro-expression index: 9/10 train, 1/10 val
  python3 -m microattention lmdb --index macro.csv --faces faces/macro \\
      --protocol pretrain --out lmdb/pretrain/train
  python3 -m microattention lmdb --index macro.csv --faces faces/macro \\
      --protocol pretrain --split val --out lmdb/pretrain/val
  # records per label and a contact sheet
  python3 -m microattention lmdb inspect lmdb/pretrain/train --out sheet.png
"""


def add_arguments(parser):
    """The options of the lmdb command."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument("action", nargs="?", choices=["inspect"],
                        help="'inspect DIR': counts per label and a contact sheet of an LMDB")
    parser.add_argument("lmdb_dir", nargs="?", metavar="DIR", help="the LMDB to inspect")
    parser.add_argument("--index", metavar="CSV", help="index CSV (the index command)")
    parser.add_argument("--faces", metavar="DIR",
                        help="folder written by the faces command (DIR/faces.csv)")
    parser.add_argument("--out", metavar="PATH",
                        help="the LMDB folder to write (its sidecar is PATH.json); "
                             "with inspect: the contact sheet PNG (default DIR.png)")
    parser.add_argument("--protocol", metavar="NAME",
                        help="one of %s: sets augmentation and resampling"
                             % ", ".join(protocols.NAMES))
    parser.add_argument("--split", choices=["train", "test", "val"], default="train",
                        help="train (resampled, augmented, shuffled), test, or val "
                             "(pre-training's held-out part); default train")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--samples", metavar="FILE",
                       help="use only these sample ids (one per line, or a CSV with a "
                            "sample_id column)")
    group.add_argument("--subjects", action="append", default=[], metavar="S[,S...]",
                       help="use only these subjects (SUBJECT or DATASET/SUBJECT)")
    group.add_argument("--exclude-subjects", action="append", default=[], metavar="S[,S...]",
                       help="use every subject but these (a leave-one-subject-out "
                            "training side)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, resampling, augmentation and order "
                             "(default 0)")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION,
                        help="pre-training: share of each class held out as val, whole "
                             "clips only (default %g)" % VAL_FRACTION)
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out samples without an ok face (listed and counted) "
                             "instead of failing")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even when the sidecar shows the same inputs")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="processes decoding and augmenting faces (default: the CPUs, "
                             "at most 4); the output does not depend on it")
    parser.add_argument("--count", type=int, default=64,
                        help="inspect: records on the contact sheet (default 64)")


def run(args):
    """Build one LMDB, or with inspect, count and show the records of one."""
    if args.action == "inspect":
        given = [o for o, v in (("--index", args.index), ("--faces", args.faces),
                                ("--protocol", args.protocol)) if v]
        if given:
            raise UserError("inspect takes only DIR, --out and --count, not %s"
                            % ", ".join(given))
        if not args.lmdb_dir:
            raise UserError("inspect needs the LMDB folder: lmdb inspect DIR")
        inspect(args.lmdb_dir, args.out, count=args.count)
        return 0
    if args.lmdb_dir:
        raise UserError("unexpected argument %r (did you mean 'lmdb inspect %s'?)"
                        % (args.lmdb_dir, args.lmdb_dir))
    missing = [o for o, v in (("--index", args.index), ("--faces", args.faces),
                              ("--out", args.out), ("--protocol", args.protocol)) if not v]
    if missing:
        raise UserError("missing %s (see --help)" % ", ".join(missing))
    with files.terminate_as_interrupt():
        try:
            build(args.index, args.faces, args.out, args.protocol, split=args.split,
                  samples=args.samples, subjects=split_list(args.subjects),
                  exclude_subjects=split_list(args.exclude_subjects), seed=args.seed,
                  val_fraction=args.val_fraction, skip_bad=args.skip_bad, force=args.force,
                  workers=args.workers)
        except KeyboardInterrupt:
            sys.stderr.write("microattention lmdb: interrupted; nothing written to %s\n"
                             % args.out)
            return 130
    return 0


def split_list(values):
    """The names of repeated, comma-separated options, in order."""
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]

