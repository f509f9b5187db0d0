"""A protocol run resolved once: the protocol (a table entry or a variant),
the net, the protocol's folds of the index and where the run's folders go.
`run`, `train-fold` and the Slurm helpers make one and pass it down, so the
protocol is looked up, the index read and split once per process."""
import pathlib

from microattention import protocols
from microattention.datasets import index_file
from microattention.lmdbs import inputs
from microattention.train import layout, selection


class ProtocolRun:
    def __init__(self, protocol, index, net=None, run_dir=None, lmdb_dir=None):
        self.protocol = protocols.get(protocol)     # a name, or a protocols.variant
        self.name = self.protocol.name
        self.net = net or self.protocol.net
        self.index = pathlib.Path(index)
        self.run_dir = run_dir
        self.lmdb_dir = lmdb_dir
        self.rows = index_file.read_index(str(self.index))     # read once per process
        self.folds = selection.split(self.rows, self.index, self.name)
        self.fold_ids = [f["fold"] for f in self.folds]

    def fold(self, wanted):
        """The fold a --fold names (see selection.pick_fold)."""
        return selection.pick_fold(self.folds, wanted, self.name, self.index)

    def fold_dir(self, fold_id):
        return layout.fold_dir_of(self.run_dir, self.name, self.net, fold_id)

    def lmdb_home(self, fold_id):
        return layout.lmdb_home(self.run_dir, self.name, fold_id, self.lmdb_dir)

    def out_dir(self):
        """RUN_DIR/<protocol>/<net>/: the pooled results."""
        return layout.net_dir(self.run_dir, self.name, self.net)

    def class_numbers(self):
        """sample id -> class number, from the rows read once."""
        return inputs.class_numbers(self.rows, self.index)
