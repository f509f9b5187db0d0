"""Export one trained fold as a self-contained model folder for `predict`.

  export --run RUN --protocol P --net N [--fold F] --out MODEL

RUN is a run folder of train-fold/run (RUN/<protocol>/<net>/<fold>/). MODEL
gets:
  deploy.prototxt       the fold's deploy net (its class count)
  weights.caffemodel    the fold's tested snapshot (final.caffemodel)
  aam.pkl               the AAM its faces were cropped with, when there was one
  run-provenance.json   the fold's provenance.json as train-fold wrote it
  model.json            classes in order, their family, the input
                        preprocessing, the crop settings, the protocol and
                        the paper's settings it was trained with, the fold's
                        metrics, and the sha256 of every file above
The sha256 of model.json is "the model's sha256" that predict records: it
pins every other file. MODEL is written as a whole or not at all (a
temporary folder renamed into place).
"""
import pathlib

from microattention import files
from microattention.deploy.export import MODEL_JSON, export_model
from microattention.nets import prototxt


def add_arguments(parser):
    parser.add_argument("--run", required=True, metavar="RUN",
                        help="run folder (RUN/<protocol>/<net>/<fold>/, as train-fold writes it)")
    parser.add_argument("--protocol", required=True, metavar="P", help="the fold's protocol")
    parser.add_argument("--net", required=True, choices=prototxt.NETS, help="the fold's net")
    parser.add_argument("--fold", metavar="F",
                        help="fold id (default: the only finished fold of RUN/P/N)")
    parser.add_argument("--out", required=True, metavar="MODEL", help="model folder to write")


def run(args):
    model = export_model(args.run, args.protocol, args.net, args.out, fold=args.fold)
    doc = files.read_json(pathlib.Path(model) / MODEL_JSON)
    print("exported %s fold %s (%s, classes %s) to %s; model sha256 %s"
          % (doc["net"], doc["fold"], doc["protocol"]["name"], ", ".join(doc["classes"]),
             model, files.sha256(pathlib.Path(model) / MODEL_JSON)))
    return 0
