"""The whole system on generated data: synthetic expression motion and
wrinkle lines on the faces of real people (photographs shipped by packages, see
demo/data/people.py), from generation to the report and the Figure-4
pictures. NOT a benchmark result: the data is synthetic and the training
budget a few minutes, not the paper's.

What training and test share: nothing of a person. The LOSO (micro) people
and the pre-training (macro) people are disjoint, a person's photographs and
their mirror images are one subject (so one LOSO fold), and the faces stage
checks this on the indexes it trains from (leaks()). Shared are the generator
(its AU table and wrinkle lines, pose and noise model), the five classes and the label-free face
alignment (each set's AAM sees one unlabelled frame per subject of that set).

Stages (a progress line each, with elapsed seconds; a finished stage is
skipped when the demo runs again on the same --out):

  data       demo-data: a CASME II tree (micro people) and a CK+ tree
             (macro people)
  index      index both trees
  faces      dlib + AAM face crops of both sets (samples whose face is not
             found are left out of training, and counted); the identity
             check (leaks()) on the indexes used for training
  pretrain   ResNet-10 trained on the macro (CK+) set but its
             validation people (whole subjects, mirrors included), then
             tested on them: settings are chosen by that accuracy, never on
             a LOSO test face (the protocol's 1/10 clip tenth is held out
             too and reported, but shares people with training); from the
             nets' fillers unless
             --init-weights gives ImageNet-gray weights
  transfer   its weights into micro_attention and into resnet10 (baseline)
  loso-micro_attention, loso-resnet10
             leave-one-subject-out fine-tuning on the micro set
  report     report.md / report.html beside the paper's Table 6
  visualize  attention maps of both nets on test faces, AU-region scores
  model      the micro-attention net of the first LOSO fold exported to
             OUT/model (try it: predict --model OUT/model --video FILE)

Outputs (OUT = --out): OUT/demo.md (what ran, stage times, accuracies, the
reductions against the paper's protocol), OUT/report/report.html,
OUT/figure4.png and OUT/figure4/ (one PNG per face, scores.csv, scores.md).
"""
# docs/figure4-heldout.png is OUT/attention/figure4-heldout.png of a --attention
# run (palette-reduced, docs/attention-experiment.md); tools/bench_demo.py
# prints a run's figures (stage times, accuracies, AU-region scores).
import os
import sys
import time

from microattention.attention import figure4
from microattention.demo.config import CONFIGS
from microattention.demo.data.truth import truth_masks
from microattention.demo.pipeline import Demo
from microattention.errors import UserError


def add_arguments(parser):
    parser.add_argument("--out", default=None,
                        help="output folder, relative to the working directory "
                             "(/workspace in the image); default: demo (demo-attention "
                             "with --attention)")
    parser.add_argument("--quick", action="store_true",
                        help="the reduced demo: every stage, LOSO on %d of the %d folds "
                             "(PARTIAL)" % (CONFIGS["quick"].loso_folds,
                                            len(CONFIGS["full"].micro_people.split(","))))
    parser.add_argument("--attention", action="store_true",
                        help="the attention experiment: train longer on every LOSO fold, "
                             "then measure the AU-region lift of the maps on the held-out "
                             "faces (OUT/attention/heldout.md, figure4-heldout.png)")
    parser.add_argument("--init-weights", metavar="W",
                        help="start pre-training from these ResNet-10 weights, e.g. the "
                             "ImageNet model made gray by 'weights imagenet-to-gray' "
                             "(default: the nets' fillers, as there is no download here)")
    parser.add_argument("--gpu", type=int, default=None, metavar="ID",
                        help="train and test on this GPU (CUDA image only)")


def attention_experiment(demo):
    """--attention, after the stages: the held-out AU-region lift of every
    trained LOSO fold (figure4.measure) and the experiment's run time."""
    stages = sum(r["seconds"] for r in demo.markers().values())
    chosen, total = demo.loso_folds()
    demo.say("attention experiment: scoring the held-out faces of %d of %d LOSO folds"
             % (len(chosen), total))
    t0 = time.time()
    note = ("**%s** Training stages: %.1f min (wall); %d of %d LOSO folds%s."
            % (demo.banner(), stages / 60.0, len(chosen), total,
               "" if len(chosen) == total else " (PARTIAL)"))
    summary, _, _ = figure4.measure(
        demo.p("runs"), chosen, demo.p("index", "casme2-faces.csv"), demo.p("faces", "casme2"),
        demo.p("attention"), note=note, truth=truth_masks(demo.p("data")))
    for r in summary:
        demo.say("  %-15s %-14s %-7s %-11s AUC %.3f [%.3f, %.3f] over %d people: %s" % (
            r["net"], r["map"], r["regions"], r["state"], r["auc"], r["auc_low"],
            r["auc_high"], r["people"], r["verdict"]))
    measured = time.time() - t0
    demo.say("attention experiment: %.1f min in all (stages %.1f min, measurement %.0f s); "
             "tables %s" % ((stages + measured) / 60.0, stages / 60.0, measured,
                            demo.p("attention", "heldout.md")))
    return 0


def run(args):
    if args.init_weights and not os.path.isfile(args.init_weights):
        raise UserError("--init-weights %s: no such file" % args.init_weights)
    if args.quick and args.attention:
        raise UserError("--quick and --attention are two different runs; give one")
    name = "quick" if args.quick else "attention" if args.attention else "full"
    try:
        demo = Demo(args.out or ("demo-attention" if args.attention else "demo"), name,
                    args.init_weights, args.gpu)
        code = demo.run()
        return attention_experiment(demo) if code == 0 and args.attention else code
    except KeyboardInterrupt:
        sys.stderr.write("microattention demo: interrupted; run the same command again "
                         "to continue (finished stages are kept)\n")
        return 130
