"""The project's one class table: the class names of each dataset family, in
class-number order (the Datum label is the position in the tuple), and the
family of each dataset. The LMDBs, the fold files, the nets' outputs and the
exported models all number classes by this table.

The names come from the paper (paper.py): micro (CASME II, SAMM) and macro
(CK+, Oulu-CASIA, JAFFE, MUG) share the five emotion classes in Table 5's
order, 0 happiness, 1 surprise, 2 anger, 3 disgust, 4 sadness (objective
classes I..V; VI fear and VII others are not used); SMIC has its own three,
0 positive, 1 negative, 2 surprise.
"""
import collections

from microattention import paper

# Family -> class names; the one place where class numbers are assigned.
CLASSES = collections.OrderedDict([
    ("micro", tuple(paper.CLASSES)),
    ("macro", tuple(paper.CLASSES)),
    ("smic", tuple(paper.SMIC_CLASSES)),
])

# Dataset (the index's dataset column, the readers' NAME) -> family.
FAMILY = {"casme2": "micro", "samm": "micro", "smic": "smic",
          "ckplus": "macro", "oulu": "macro", "jaffe": "macro", "mug": "macro"}
