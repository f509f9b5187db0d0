"""Generate the demo data: expression clips of real people's faces, from
photographs that installable packages ship (people.py: who, from where,
under which terms), in the CASME II layout (micro-expressions, OUT/casme2)
and the CK+ layout (macro-expressions, OUT/ckplus), for
`index --dataset casme2|ckplus --root OUT/...`. The micro (LOSO) people and
the macro (pre-training) people are disjoint; a person is one subject, their
photographs and the mirror images of those included. Same seed, same bytes.

Modules: people (the photographs, their regions, dlib's 68 points),
geometry (AU moves, pose, the warp's fixed points), warp (piecewise-affine
warp), layouts (the datasets' files); the AU table itself is microattention.aus,
mirror images are aam.mirror.

--rehearsal writes instead a small copy of all seven databases in their
released layouts (rehearsal.py: what it writes and the `index` options each
needs)."""
import argparse
import os
import re
import time

from microattention.demo.data import rehearsal
from microattention.demo.data.clips import (
    MAGNITUDE_MACRO, MAGNITUDE_MAX, MAGNITUDE_MICRO, POSITION_JITTER, ROTATION_JITTER,
    SCALE_JITTER)
from microattention.demo.data.generator import generate
from microattention.demo.data.layouts import encode
from microattention.demo.data.people import (
    DEFAULT_MACRO, DEFAULT_MICRO, PEOPLE, check_people, parse_people)
from microattention.demo.data.strip import strip_image
from microattention.errors import UserError
from microattention.faces.aus import CLASS_AUS
from microattention.files import atomic_write, check_outputs


def _size(text):
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
    if not match:
        raise UserError("--size %r: expected WIDTHxHEIGHT, e.g. 320x320" % text)
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < 96 or max(width, height) > 4096:
        raise UserError("--size %s: width and height must be 96 to 4096 pixels" % text)
    return width, height


def add_arguments(parser):
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write (casme2/ and ckplus/ below it)")
    parser.add_argument("--seed", type=int, default=1, help="default: %(default)s")
    parser.add_argument("--micro-people", default=",".join(DEFAULT_MICRO), metavar="NAMES",
                        help="people of the micro (CASME II, LOSO) set, one subject each "
                             "(default: %(default)s; all: " + ",".join(PEOPLE) + ")")
    parser.add_argument("--macro-people", default=",".join(DEFAULT_MACRO), metavar="NAMES",
                        help="people of the macro (CK+, pre-training) set, none of the "
                             "micro people (default: the others, %d)" % len(DEFAULT_MACRO))
    parser.add_argument("--photos-per-person", type=int, default=None, metavar="N",
                        help="use at most N photographs of each person (default: all); "
                             "each is also used mirrored, as the same subject")
    parser.add_argument("--micro-clips", type=int, default=4, metavar="N",
                        help="CASME II clips per person and class, their photographs and "
                             "mirror images in turn (default: %(default)s)")
    parser.add_argument("--macro-clips", type=int, default=2, metavar="N",
                        help="CK+ sequences per person and class (default: %(default)s)")
    parser.add_argument("--micro-frames", type=int, default=7, metavar="N",
                        help="frames per CASME II clip, onset to offset (default: %(default)s)")
    parser.add_argument("--macro-frames", type=int, default=6, metavar="N",
                        help="frames per CK+ sequence, neutral to peak (default: %(default)s)")
    parser.add_argument("--magnitude-micro", type=float, default=MAGNITUDE_MICRO, metavar="X",
                        help="apex intensity of the micro set, as a factor of the AU table "
                             "(1 = a strong expression; default: %(default)s)")
    parser.add_argument("--magnitude-macro", type=float, default=MAGNITUDE_MACRO, metavar="Y",
                        help="peak intensity of the macro set (default: %(default)s)")
    parser.add_argument("--size", default="320x320", metavar="WxH",
                        help="frame size; the face covers about half of it "
                             "(default: %(default)s)")
    parser.add_argument("--noise", type=float, default=2.0, metavar="SIGMA",
                        help="sensor noise, grey levels (default: %(default)s)")
    parser.add_argument("--jitter", type=float, default=1.0, metavar="F",
                        help="scale of the per-clip head-pose (position %.0f%%%%, size %.0f%%%%, "
                             "roll %g deg) and brightness jitters; 0 = every clip of a face "
                             "in the same pose (default: %%(default)s)"
                        % (100 * POSITION_JITTER, 100 * SCALE_JITTER, ROTATION_JITTER))
    parser.add_argument("--au-variants", type=int, default=None, metavar="N",
                        help="AU combinations per class taken in turn by its clips, 1-%d "
                             "(default: all %d; 1 = one combination per class)"
                        % (min(len(v) for v in CLASS_AUS.values()), len(CLASS_AUS[1])))
    parser.add_argument("--furrows", type=float, default=0.0, metavar="D",
                        help="also draw each AU's wrinkles and furrows (FACS appearance "
                             "changes, demo/data/furrows.py) as dark lines, darkening by D "
                             "(0-0.9) at full intensity; 0 = movement only "
                             "(default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="worker processes (default: the usable cores, at most 2; "
                             "the output does not depend on it)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing demo-data folder")
    parser.add_argument("--strip", metavar="PNG",
                        help="also write a picture of apex frames per class")
    parser.add_argument("--rehearsal", action="store_true",
                        help="instead: a small copy of all seven databases in their released "
                             "layouts (casme2/ samm/ smic/ ckplus/ oulu/ jaffe/ mug/ below "
                             "--out), for a dress rehearsal; reads --out, --seed, --force, "
                             "--jobs only")


def check_options(opts):
    opts.size = _size(opts.size) if isinstance(opts.size, str) else tuple(opts.size)
    opts.micro_people = parse_people(opts.micro_people, "--micro-people")
    opts.macro_people = parse_people(opts.macro_people, "--macro-people")
    check_people(opts.micro_people, opts.macro_people)
    if opts.photos_per_person is not None and opts.photos_per_person < 1:
        raise UserError("--photos-per-person %d: must be at least 1" % opts.photos_per_person)
    for name, low in (("micro_clips", 1), ("macro_clips", 1), ("micro_frames", 3),
                      ("macro_frames", 3)):
        value = getattr(opts, name)
        if value < low:
            raise UserError("--%s %d: must be at least %d" % (name.replace("_", "-"), value, low))
    for name in ("magnitude_micro", "magnitude_macro"):
        value = getattr(opts, name)
        if not 0 <= value <= MAGNITUDE_MAX:
            raise UserError("--%s %g: choose 0 to %g (beyond it most moves fold the face "
                            "mesh and are shrunk back)"
                            % (name.replace("_", "-"), value, MAGNITUDE_MAX))
    if getattr(opts, "jobs", None) is None:
        opts.jobs = min(2, len(os.sched_getaffinity(0)))
    if opts.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % opts.jobs)
    most = min(len(v) for v in CLASS_AUS.values())
    if opts.au_variants is not None and not 1 <= opts.au_variants <= most:
        raise UserError("--au-variants %d: choose 1 to %d" % (opts.au_variants, most))
    if not 0 <= opts.jitter <= 2:
        raise UserError("--jitter %g: choose 0 to 2" % opts.jitter)
    if not 0 <= opts.furrows <= 0.9:
        raise UserError("--furrows %g: choose 0 to 0.9 (the darkening of a line at full "
                        "intensity)" % opts.furrows)
    if not 0 <= opts.noise <= 50:
        raise UserError("--noise %g: choose 0 to 50 grey levels" % opts.noise)
    if opts.strip and not opts.strip.lower().endswith(".png"):
        raise UserError("--strip %s: give a .png file name" % opts.strip)
    return opts


def check_rehearsal(opts):
    """--rehearsal writes a fixed plan: only --out, --seed, --force and
    --jobs apply; any other option given is refused, not ignored."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    defaults = vars(parser.parse_args(["--out", opts.out]))
    given = sorted("--" + name.replace("_", "-") for name, value in defaults.items()
                   if name not in ("out", "seed", "force", "jobs", "rehearsal")
                   and getattr(opts, name) != value)
    if given:
        raise UserError("--rehearsal writes a fixed small copy of the seven databases; it "
                        "takes --out, --seed, --force and --jobs only, not %s"
                        % ", ".join(given))
    if opts.jobs is not None and opts.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % opts.jobs)
    return opts


def run(args):
    if args.rehearsal:
        return rehearsal.run(check_rehearsal(args))
    opts = check_options(args)
    if opts.strip:
        check_outputs([opts.strip])
        if os.path.realpath(opts.strip).startswith(os.path.realpath(opts.out) + os.sep):
            raise UserError("--strip %s is inside --out %s, which is replaced as a whole"
                            % (opts.strip, opts.out))
    start = time.time()
    manifest = generate(opts)
    seconds = time.time() - start
    frames = sum(c["frames"] for c in manifest["casme2"] + manifest["ckplus"])
    print("demo data in %s: %d micro people (LOSO), %d macro people (pre-training), %d CASME II "
          "clips, %d CK+ sequences, %d frames (%.1f s)"
          % (opts.out, len(opts.micro_people), len(opts.macro_people), len(manifest["casme2"]),
                        len(manifest["ckplus"]), frames, seconds))
    print("index them with:\n  python3 -m microattention index --dataset casme2 --root %s\n"
          "  python3 -m microattention index --dataset ckplus --root %s"
          % (os.path.join(opts.out, "casme2"), os.path.join(opts.out, "ckplus")))
    if opts.strip:
        atomic_write(opts.strip, encode(strip_image(opts.out, manifest), ".png"))
        print("strip of apex frames: %s" % opts.strip)
    return 0
