"""An exported model for predict: its folder checked (export.load_model), a
micro-expression class family, and its pycaffe net with the maps of
attention.maps."""
import pathlib

from microattention.attention import maps
from microattention.deploy import export
from microattention.errors import UserError
from microattention.faces import aam
from microattention.nets import prototxt

PREDICTABLE = ("micro", "smic")   # class families of micro-expression models


class Model:
    """An exported model, checked, with its pycaffe net."""

    def __init__(self, folder, gpu=None):
        self.folder = pathlib.Path(folder)
        self.doc, self.sha256 = export.load_model(folder)
        family = self.doc["family"]
        if family not in PREDICTABLE:
            raise UserError("--model %s is a model of the %s-expression classes (%s, protocol "
                            "%s); predict needs a micro-expression model (class family %s): "
                            "export a fine-tuned fold (loso, cde or hde)"
                            % (folder, family, ", ".join(self.doc["classes"]),
                               self.doc["protocol"]["name"], " or ".join(PREDICTABLE)))
        self.classes = list(self.doc["classes"])
        caffe = prototxt.import_caffe()
        if gpu is not None:
            caffe.set_mode_gpu()
            caffe.set_device(int(gpu))
        self.net = maps.load_net(self.doc["net"], str(self.folder / export.WEIGHTS),
                                 "--model %s:" % folder,
                                 deploy=self.folder / export.DEPLOY)[0]
        outputs = self.net.blobs["prob"].data.shape[-1] if "prob" in self.net.blobs else None
        if outputs != len(self.classes):
            raise UserError("--model %s: its net has %s outputs for %d classes"
                            % (folder, outputs, len(self.classes)))
        self.aam = None
        if self.doc["crop"].get("landmarks") == "aam" and export.AAM in self.doc["files_sha256"]:
            self.aam = aam.load(str(self.folder / export.AAM))

    def predict(self, face):
        """(probabilities, OrderedDict map name -> 2-D map) of a 240x240 face."""
        face_maps, prob = maps.forward(self.net, face)
        return prob.reshape(-1), face_maps

