"""Split an index into the folds of an evaluation protocol (paper 4.2):

  hde   holdout-database: train on CASME II and test on SAMM, and the reverse
        (2 folds, ids casme2-to-samm and samm-to-casme2); the index must pool
        exactly those two datasets.
  cde   composite-database: leave one subject out over a pooled index of
        several datasets (CASME II + SAMM in the paper: 26 + 20 = 46 folds).
  loso  leave one subject out within one dataset (CASME II, SAMM or SMIC).

Subjects are dataset-qualified: CASME II's sub01 and SAMM's 006 are different
people, and a subject is never on both sides of a fold (checked on writing and
on reading a fold file). Fold ids are <dataset>_<subject> for cde and loso.
Folds are ordered naturally (sub2 before sub10) and the output is the same
bytes for the same index.

Fold files (--out, format chosen by the extension; repeat --out for both):
  .json  {"format": "microattention-folds/1", "protocol", "index_sha256",
          "classes": [class names in class-index order],
          "folds": [{"fold", "test_subjects": ["dataset/subject", ...],
                     "train": [sample ids], "test": [sample ids]}]}
  .csv   one row per fold and sample: fold, side (train|test), sample_id,
         dataset, subject, label
Sample ids are datasets.common.sample_id: dataset/subject/clip/frame. The
class order (the integer labels the training stage gives Caffe) is the
paper's order of the datasets' classes; see class_names().

Per-fold class counts are printed; a fold whose training side lacks a class
is reported as a warning (its test side lacking one is normal in LOSO).
"""
import argparse
import os
import sys
from collections import OrderedDict

from microattention import files
from microattention.naming import natural_key
from microattention.datasets.index_file import read_index
from microattention.errors import UserError
from microattention.folds.split import (
    HDE_PAIR, PROTOCOLS, check_folds, class_names, counts_table, make_folds,
    to_csv, to_json)


def add_arguments(parser):
    """The options of the folds command."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  python3 -m microattention folds --index cde.csv --protocol cde --out folds_cde.json\n"
        "  python3 -m microattention folds --index casme2+samm.csv --protocol hde \\\n"
        "      --out folds_hde.json --out folds_hde.csv\n")
    parser.add_argument("--index", required=True, metavar="INDEX.csv",
                        help="index CSV written by 'python3 -m microattention index'")
    parser.add_argument("--protocol", required=True, metavar="hde|cde|loso",
                        help="hde (CASME II <-> SAMM), cde (pooled, leave one subject out) "
                             "or loso (one dataset, leave one subject out)")
    parser.add_argument("--out", action="append", metavar="FOLDS.json|FOLDS.csv",
                        help="fold file to write; .json or .csv; repeat for both "
                             "(default: folds_<protocol>.json)")


def run(args):
    """Split the index and write the fold files; print the class counts."""
    protocol = str(args.protocol).lower()
    if protocol not in PROTOCOLS:
        raise UserError("--protocol %s: unknown protocol; expected one of %s"
                        % (args.protocol, ", ".join(PROTOCOLS)))
    outs = args.out or ["folds_%s.json" % protocol]
    for out in outs:
        if os.path.splitext(out)[1].lower() not in (".json", ".csv"):
            raise UserError("--out %s: the fold file must end in .json or .csv" % out)
    rows = read_index(args.index)
    files.check_outputs(outs, [args.index], {p: "--out" for p in outs})
    classes = class_names(rows)
    folds = make_folds(rows, protocol, args.index)
    check_folds(folds, args.index)
    digest = files.sha256(args.index)
    contents = OrderedDict()
    for out in outs:
        if out.lower().endswith(".json"):
            contents[out] = to_json(folds, protocol, classes, digest)
        else:
            contents[out] = to_csv(folds, rows)
    files.write_together(contents)
    report, warnings = counts_table(folds, rows, classes, protocol)
    datasets = sorted({r["dataset"] for r in rows.values()}, key=natural_key)
    if protocol == "cde" and datasets != list(HDE_PAIR):
        report += "note: the paper's CDE pools %s; this index pools %s\n" % (
            " and ".join(HDE_PAIR), " and ".join(datasets))
    for message in warnings:
        sys.stderr.write("warning: %s\n" % message)
    sys.stdout.write(report)
    for out in outs:
        sys.stdout.write("wrote %d fold(s) to %s\n" % (len(folds), out))
    return 0
