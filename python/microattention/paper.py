"""The paper's reported figures, as data: the one place they are typed.

Wang, Peng, Bi, Chen, "Micro-Attention for Micro-Expression Recognition",
Neurocomputing 410 (2020) 354-362. Table numbers are the paper's. The report
stage compares its results with these; docs/paper-setup.md renders its tables
from them (tools/make_docs.py), and tests/test_docs.py checks the tables
against each other (Table 5 against Tables 1 and 4).

Data only: no imports from the rest of the package.
"""
import collections

CITATION = ("Chongyang Wang, Min Peng, Tao Bi, Tong Chen. Micro-Attention for "
            "Micro-Expression Recognition. Neurocomputing 410 (2020) 354-362.")

# Method key -> label used in the paper's tables. The three residual nets use
# the names of their prototxt folders (prototxt/<key>/).
METHODS = collections.OrderedDict([
    ("lbp_top", "LBP-TOP [39]"),
    ("hoof", "HOOF [39]"),
    ("hog3d", "3D-HOG [39]"),
    ("elrcn", "ELRCN [32]"),
    ("merghani", "Merghani et al. [39]"),
    ("resnet10", "Residual Network [17]"),
    ("complex_attention", "Residual Network with complex attention [29]"),
    ("micro_attention", "Residual Network with Micro-Attention"),
])

# The five emotion classes of the regrouped micro- and macro-expression sets,
# in the paper's order (objective classes I..V), and SMIC's own three.
CLASSES = ("happiness", "surprise", "anger", "disgust", "sadness")
SMIC_CLASSES = ("positive", "negative", "surprise")

# Table 1: samples per class. CASME II and SAMM by objective class I..VII
# (VI fear and VII others are not used); SMIC by its own classes.
TABLE1 = collections.OrderedDict([
    ("casme2", collections.OrderedDict([
        ("happiness", 25), ("surprise", 15), ("anger", 99), ("disgust", 26),
        ("sadness", 20), ("fear", 1), ("others", 69)])),
    ("samm", collections.OrderedDict([
        ("happiness", 24), ("surprise", 13), ("anger", 20), ("disgust", 8),
        ("sadness", 3), ("fear", 7), ("others", 84)])),
    ("smic", collections.OrderedDict([
        ("positive", 51), ("negative", 70), ("surprise", 43)])),
])
TABLE1_PARTICIPANTS = {"casme2": 35, "samm": 32, "smic": 16}

# Section 4.1/4.2: pre-training set sizes and the reported validation accuracy
# of the ResNet-10 without attention on the five macro-expression classes.
PRETRAIN_IMAGES = collections.OrderedDict([
    ("ckplus", 852), ("oulu", 1200), ("jaffe", 151), ("mug", 8228)])
PRETRAIN_VALIDATION_ACCURACY = 0.9933

# Table 2, HDE: test set -> WAR and UAR (the other database is the training set).
TABLE2 = collections.OrderedDict([
    ("lbp_top", {"samm": {"war": 0.338, "uar": 0.327}, "casme2": {"war": 0.232, "uar": 0.316}}),
    ("hoof", {"samm": {"war": 0.441, "uar": 0.349}, "casme2": {"war": 0.265, "uar": 0.346}}),
    ("hog3d", {"samm": {"war": 0.353, "uar": 0.269}, "casme2": {"war": 0.373, "uar": 0.187}}),
    ("elrcn", {"samm": {"war": 0.485, "uar": 0.382}, "casme2": {"war": 0.384, "uar": 0.322}}),
    ("resnet10", {"samm": {"war": 0.544, "uar": 0.440}, "casme2": {"war": 0.578, "uar": 0.337}}),
    ("complex_attention",
     {"samm": {"war": 0.529, "uar": 0.393}, "casme2": {"war": 0.573, "uar": 0.319}}),
    ("micro_attention",
     {"samm": {"war": 0.559, "uar": 0.427}, "casme2": {"war": 0.584, "uar": 0.341}}),
])

# Table 3: parameter size (million, as printed: one decimal) and training time
# per iteration (seconds, the authors' GPU).
TABLE3 = collections.OrderedDict([
    ("resnet10", {"params_million": 4.9, "seconds_per_iteration": 0.95}),
    ("complex_attention", {"params_million": 11.2, "seconds_per_iteration": 1.5}),
    ("micro_attention", {"params_million": 5.9, "seconds_per_iteration": 1.1}),
])

# Table 4, CDE (CASME II + SAMM, leave one subject out): accuracy and F1.
TABLE4 = collections.OrderedDict([
    ("lbp_top", {"accuracy": 0.524, "f1": 0.400}),
    ("hoof", {"accuracy": 0.527, "f1": 0.404}),
    ("hog3d", {"accuracy": 0.436, "f1": 0.271}),
    ("elrcn", {"accuracy": 0.570, "f1": 0.411}),
    ("merghani", {"accuracy": 0.718, "f1": 0.579}),
    ("resnet10", {"accuracy": 0.747, "f1": 0.640}),
    ("complex_attention", {"accuracy": 0.625, "f1": 0.489}),
    ("micro_attention", {"accuracy": 0.763, "f1": 0.668}),
])

# Table 5: CDE confusion matrix of the micro-attention net, percent of each
# true class (rows true, columns predicted, order CLASSES), as printed.
TABLE5 = (
    (81.63, 12.24, 6.12, 0.00, 0.00),
    (17.86, 53.57, 10.71, 7.14, 10.71),
    (2.52, 0.00, 94.12, 1.68, 1.68),
    (17.65, 0.00, 35.29, 47.06, 0.00),
    (4.35, 8.70, 43.47, 0.00, 43.48),
)

# Table 6, LOSO on each database alone: accuracy and F1.
TABLE6 = collections.OrderedDict([
    ("resnet10", {"samm": {"accuracy": 0.456, "f1": 0.383},
                  "casme2": {"accuracy": 0.622, "f1": 0.464},
                  "smic": {"accuracy": 0.415, "f1": 0.406}}),
    ("complex_attention", {"samm": {"accuracy": 0.471, "f1": 0.306},
                           "casme2": {"accuracy": 0.627, "f1": 0.473},
                           "smic": {"accuracy": 0.494, "f1": 0.448}}),
    ("micro_attention", {"samm": {"accuracy": 0.485, "f1": 0.402},
                         "casme2": {"accuracy": 0.659, "f1": 0.539},
                         "smic": {"accuracy": 0.494, "f1": 0.496}}),
])

# Table 7: action units of the emotions shown in Figure 4.
TABLE7 = collections.OrderedDict([
    ("disgust", ("AU9", "AU15", "AU16")),
    ("sadness", ("AU1", "AU4", "AU15")),
    ("anger", ("AU4", "AU5", "AU7", "AU23")),
])

DATASET_LABELS = {"casme2": "CASME II", "samm": "SAMM", "smic": "SMIC"}
