"""List the samples of a dataset as a CSV index: one row per image the paper
uses (the apex frame of each micro-expression clip; the selected frames of the
macro-expression sets), with its class in the paper's names, how the apex was
found, and where the row came from. Prints a per-class count table in the
shape of the paper's Table 1 and the excluded samples by reason.

Several datasets can be pooled in one index by repeating --dataset/--root
(e.g. CASME II + SAMM for the composite-database evaluation, CDE).
"""
import argparse
import csv
import io
import os
import sys
from collections import Counter

from microattention import files
from microattention.errors import UserError
from microattention.datasets import READERS
from microattention.datasets.common import COLUMNS, Collector
from microattention.datasets.files import reach, shown
from microattention.datasets.objective import ROMAN
from microattention.naming import natural_key

LAYOUTS = """\
what each dataset needs (ROOT is --root; sheets are found below ROOT unless given):
  casme2  ROOT/CASME2-coding-20190701.xlsx (or --sheet; .xls must be saved as .xlsx/.csv)
          ROOT/CASME2-ObjectiveClasses.xlsx (optional, or --objective; else classes are
          derived from the AU strings and the summary says so)
          ROOT/Cropped/sub01/EP02_01f/reg_img46.jpg or
          ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg (--frames)
  samm    ROOT/SAMM_Micro_FACS_Codes_v2.xlsx (or --sheet; header row found by name)
          ROOT/SAMM/006/006_1_2/006_05562.jpg; classes from its 'Objective Classes'
          column (or --objective FILE, or --derive-classes)
  smic    ROOT/SMIC/HS/s1/micro/negative/s1_ne_01/image0000001.bmp (--camera hs|vis|nir);
          apex = middle frame
  ckplus  ROOT/cohn-kanade-images/S005/001/S005_001_00000011.png and
          ROOT/Emotion/S005/001/S005_001_00000011_emotion.txt; last 3 frames
  oulu    ROOT/OriginalImg/VL/Strong/P001/Anger/000.jpeg (--camera vis|nir,
          --illumination); last 3 frames
  jaffe   ROOT/KA.AN1.39.tiff (213 images)
  mug     ROOT/subjects3/001/happiness/take000/img_0001.jpg; --mug-frames, --mug-apex
Paths in the index are relative to the 'root' column. See docs/datasets-layout.md.

examples:
  python3 -m microattention index --dataset casme2 --root /data/CASME2 --out casme2.csv
  python3 -m microattention index --dataset casme2 --root /data/CASME2 \\
      --dataset samm --root /data/SAMM --out cde.csv
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = LAYOUTS
    parser.add_argument("--dataset", action="append", required=True, choices=sorted(READERS),
                        help="database to index; repeat with --root to pool several")
    parser.add_argument("--root", action="append", required=True, metavar="DIR",
                        help="folder of the user's copy (one per --dataset, same order)")
    parser.add_argument("--out", metavar="FILE",
                        help="index CSV to write (default: index_<datasets>.csv)")
    parser.add_argument("--sheet", action="append", default=[], metavar="[DATASET=]FILE",
                        help="coding sheet (.xlsx or .csv) of casme2 or samm")
    parser.add_argument("--objective", action="append", default=[], metavar="[DATASET=]FILE",
                        help="objective-class sheet (columns Subject, Filename, "
                             "Objective Class) of casme2 or samm")
    parser.add_argument("--derive-classes", action="store_true",
                        help="ignore the shipped objective classes and derive them from "
                             "the AU strings")
    parser.add_argument("--frames", choices=["auto", "cropped", "raw"], default="auto",
                        help="CASME II frames: Cropped/ or CASME2_RAW_selected/ "
                             "(default: cropped when present)")
    parser.add_argument("--camera", choices=["hs", "vis", "nir"],
                        help="SMIC camera (default hs) or Oulu-CASIA camera (default vis)")
    parser.add_argument("--illumination", choices=["strong", "weak", "dark"], default="strong",
                        help="Oulu-CASIA illumination (default strong, as the paper)")
    parser.add_argument("--mug-frames", default="6-10", metavar="N|LO-HI",
                        help="MUG frames per clip around the apex (default 6-10: "
                             "clip length // 10 clamped to the range)")
    parser.add_argument("--mug-apex", metavar="FILE",
                        help="MUG apex frames (csv: subject, expression, take, apex); "
                             "default: middle frame")
    parser.add_argument("--skip-bad", action="store_true",
                        help="exclude unusable samples (listed with their reason) "
                             "instead of stopping with an error")
    parser.add_argument("--excluded", metavar="FILE",
                        help="also write the excluded samples and their reasons as CSV")
    parser.add_argument("--no-image-check", action="store_true",
                        help="do not decode the selected images (faster; unreadable files "
                             "then surface later)")
    parser.add_argument("--quiet-warnings", action="store_true",
                        help="print the number of warnings, not each one")


def _per_dataset(values, names, option):
    """--sheet/--objective values: 'FILE' (single dataset) or 'NAME=FILE'."""
    result = {}
    for value in values:
        name, sep, path = value.partition("=")
        if sep and name in READERS:
            target = name
        elif len(names) == 1:
            target, path = names[0], value
        else:
            raise UserError("%s %s: with several datasets write %s DATASET=FILE"
                               % (option, value, option))
        if target not in names:
            raise UserError("%s %s: %s is not being indexed" % (option, value, target))
        if target in result:
            raise UserError("%s given twice for %s" % (option, target))
        result[target] = path
    return result


# Options that only some readers use; given for another dataset they would be
# ignored silently.
ONLY_FOR = {"--sheet": ("casme2", "samm"), "--objective": ("casme2", "samm")}


def _check_roots(names, roots):
    if len(roots) != len(names):
        raise UserError("give one --root per --dataset (%d datasets, %d roots)"
                        % (len(names), len(roots)))
    given = {}
    for name, root in zip(names, roots):
        if name in given:
            raise UserError("--dataset %s is given twice (--root %s and --root %s); give each "
                            "dataset once" % (name, given[name], root))
        given[name] = root
        if reach(root) is None:      # reach: unreadable or a link loop is said so
            raise UserError("%s: --root %s does not exist" % (name, root))
        if not os.path.isdir(root):
            raise UserError("%s: --root %s is not a directory" % (name, root))


def _output_paths(args, names):
    out = args.out or "index_%s.csv" % "+".join(names)
    outputs = {out: "--out"}
    if args.excluded:
        if os.path.realpath(args.excluded) == os.path.realpath(out):
            raise UserError("--out %s and --excluded %s are the same file; give two paths"
                            % (out, args.excluded))
        outputs[args.excluded] = "--excluded"
    for path in outputs:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UserError("cannot write %s (%s): folder %s does not exist"
                            % (path, outputs[path], folder))
    return out, outputs


def run(args):
    names = args.dataset
    _check_roots(names, args.root)
    sheets = _per_dataset(args.sheet, names, "--sheet")
    objectives = _per_dataset(args.objective, names, "--objective")
    for option, given in (("--sheet", sheets), ("--objective", objectives)):
        for name in given:
            if name not in ONLY_FOR[option]:
                raise UserError("%s is for %s only; %s has no such file"
                                % (option, " and ".join(ONLY_FOR[option]), name))
    if args.mug_apex and "mug" not in names:
        raise UserError("--mug-apex is for --dataset mug only")
    out, outputs = _output_paths(args, names)
    inputs = {p: o for o, given in (("--sheet", sheets), ("--objective", objectives))
              for p in given.values()}
    if args.mug_apex:
        inputs[args.mug_apex] = "--mug-apex"
    # Before any work: an output may never be an input or the other output.
    files.check_outputs(list(outputs), inputs, outputs)

    collectors = [_read_dataset(args, name, root, sheets, objectives)
                  for name, root in zip(names, args.root)]

    rows = [row for col in collectors for row in col.rows]
    rows.sort(key=lambda r: (r["dataset"], natural_key(r["subject"]), natural_key(r["clip"]),
                             int(r["frame"]) if r["frame"] else -1, r["frame_path"]))
    # Files found below the roots (sheets, label files, the images indexed)
    # are inputs too: a --out pointing at one would replace it.
    read = [p for col in collectors for p in col.inputs]
    files.check_outputs(list(outputs), {**{p: None for p in read}, **inputs}, outputs)
    _check_not_an_image(rows, outputs)
    contents = {out: csv_text(COLUMNS, rows)}
    excluded = [e for col in collectors for e in col.excluded]
    if args.excluded:
        excluded.sort(key=lambda e: (e["dataset"], natural_key(e["subject"]),
                                     natural_key(e["clip"]), e["reason"]))
        contents[args.excluded] = csv_text(["dataset", "subject", "clip", "reason", "detail"],
                                           excluded)
    files.write_together(contents)
    sys.stdout.write(summary(collectors))
    sys.stdout.write("wrote %d row(s) to %s\n" % (len(rows), out))
    return 0


def _read_dataset(args, name, root, sheets, objectives):
    """Run one dataset's reader; its Collector, warnings printed, errors raised."""
    reader = READERS[name]
    col = Collector(name, reader.DISPLAY, root, reader.CLASSES, skip_bad=args.skip_bad,
                    check_images=not args.no_image_check)
    opts = argparse.Namespace(**vars(args))
    opts.sheet = sheets.get(name)
    opts.objective = objectives.get(name)
    try:
        reader.index(os.path.abspath(root), opts, col)
    except OSError as exc:
        # A reader meets the file system at many places; whatever it could
        # not read is the user's to fix, so it is reported, not a traceback.
        raise UserError("%s: cannot read %s: %s" % (
            reader.DISPLAY, shown(exc.filename or root), exc.strerror or exc))
    _print_warnings(col, args.quiet_warnings)
    col.finish()
    return col


def _check_not_an_image(rows, outputs):
    """No output may be one of the indexed images. The images: compared as
    normalised paths (a realpath for each of thousands of frames would take
    seconds)."""
    targets = {os.path.realpath(p): p for p in outputs}
    targets.update({os.path.abspath(p): p for p in outputs})
    for row in rows:
        image = os.path.normpath(os.path.join(row["root"], row["frame_path"]))
        if image in targets:
            raise UserError("output %s (%s) is an image of the index (%s); choose another "
                            "output path" % (targets[image], outputs[targets[image]], image))


def _print_warnings(col, quiet):
    if not col.warnings:
        return
    if quiet:
        sys.stderr.write("%s: %d warning(s)\n" % (col.display_name, len(col.warnings)))
        return
    for message in col.warnings:
        sys.stderr.write("warning: %s: %s\n" % (col.display_name, message))


def csv_text(columns, rows):
    """The CSV text of rows (fixed column order, '\\n' line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    return buffer.getvalue()


def summary(collectors):
    """Per-class counts in the shape of Table 1, then exclusions by reason."""
    lines = []
    for col in collectors:
        indexed = Counter()
        samples = set()
        for row in col.rows:
            if (row["subject"], row["clip"]) not in samples:
                samples.add((row["subject"], row["clip"]))
                indexed[_class_key(col, row)] += 1
        lines.append("")
        lines.append("%s (%s)" % (col.display_name, col.dataset))
        for note in col.notes:
            lines.append("  " + note)
        lines.append("  %-22s %8s %8s" % ("category", "samples", "indexed"))
        known = [k for k, _ in col.class_order]
        for key, printed in col.class_order:
            lines.append("  %-22s %8d %8d" % (printed, col.clip_classes[key], indexed[key]))
        for key in sorted(set(col.clip_classes) - set(known), key=str):
            lines.append("  %-22s %8d %8d" % (key, col.clip_classes[key], indexed[key]))
        lines.append("  %-22s %8d %8d" % ("number of samples", sum(col.clip_classes.values()),
                                           len(samples)))
        kept_subjects = {s for s, _ in samples}
        lines.append("  %-22s %8d %8d" % ("participants", len(col.subjects_seen),
                                           len(kept_subjects)))
        lines.append("  %-22s %8s %8d" % ("images in the index", "", len(col.rows)))
        reasons = Counter(e["reason"] for e in col.excluded)
        if reasons:
            lines.append("  excluded:")
            for reason in sorted(reasons):
                lines.append("    %-32s %6d" % (reason, reasons[reason]))
        if col.warnings:
            lines.append("  warnings: %d (printed above)" % len(col.warnings))
    if len(collectors) > 1:
        pooled = sorted({(r["dataset"], r["subject"]) for c in collectors for r in c.rows},
                        key=lambda k: (k[0], natural_key(k[1])))
        total = len({(r["dataset"], r["subject"], r["clip"]) for c in collectors for r in c.rows})
        lines.append("")
        lines.append("pooled: %d samples from %d subjects (%s)" % (
            total, len(pooled), " + ".join(
                "%d %s" % (sum(1 for d, _ in pooled if d == c.dataset), c.display_name)
                for c in collectors)))
        lines.append("subjects with at least one sample:")
        for col in collectors:
            lines.append("  %s: %s" % (col.display_name, " ".join(
                s for d, s in pooled if d == col.dataset)))
    return "\n".join(lines) + "\n"


def _class_key(col, row):
    """The key of class_order a row belongs to (objective class number for the
    coded sets, label otherwise)."""
    if row["objective_class"]:
        return {v: k for k, v in ROMAN.items()}[row["objective_class"]]
    return row["label"]
