"""The released layouts of SAMM and SMIC-E as the rehearsal writes them
(CASME II's are in layouts.py): subject, clip and frame names, the SAMM
coding sheet with its free text above the header, SMIC's class folders.
Each writer takes a clip's rendered frames and returns the clip's record,
named as `index` will name it."""
from microattention.datasets.objective import NAMES, ROMAN
from microattention.demo.data.layouts import encode, xlsx_bytes

# SAMM: subjects are numbered from 006, frames are SUBJECT_NNNNN.jpg padded
# to 4 or 5 digits, and the coding sheet's header is on row 14.
SAMM_SHEET = "samm/SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_FIRST_SUBJECT = 6
SAMM_PREAMBLE = [["SAMM Micro-Movement FACS codes (generated rehearsal copy)"], ["Version 2"],
                 [None], ["Generated from real photographs by microattention demo-data "
                          "--rehearsal; not the SAMM database."], [None], ["Notes:"],
                 ["Onset, apex and offset are frame numbers of the clip."],
                 [None], [None], [None], [None], [None], [None]]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
               "Offset Frame", "Duration", "Type", "Action Units", "Notes",
               "Estimated Emotion", "Objective Classes"]

# SMIC-E (HS camera): the class is the folder, sN_<short>_NN the clip.
SMIC_CAMERA = "HS"
SMIC_SHORT = {"positive": "po", "negative": "ne", "surprise": "sur"}
# The objective classes whose AU moves make each SMIC class's clips: its
# negative clips take anger, disgust and sadness in turn.
SMIC_CLASSES = {"positive": (1,), "negative": (3, 4, 5), "surprise": (2,)}


def samm_subject(identity):
    return "%03d" % (SAMM_FIRST_SUBJECT + identity)


def samm_clip(tree, images, identity, number, k, onset, apex_at, aus):
    """Write one SAMM clip: SAMM/006/006_<inducement>_<n>/006_0NNNN.jpg.
    Odd clips pad frame numbers to 5 digits, even ones to 4 (both occur)."""
    subject = samm_subject(identity)
    clip = "%s_%d_%d" % (subject, number, k + 1)
    digits = 5 if k % 2 else 4
    folder = "SAMM/%s/%s" % (subject, clip)
    for n, image in enumerate(images):
        tree.write("samm/%s/%s_%0*d.jpg" % (folder, subject, digits, onset + n),
                   encode(image, ".jpg"))
    return {"subject": subject, "clip": clip, "folder": folder, "class": ROMAN[number],
            "label": NAMES[number], "aus": aus, "onset": onset, "apex": onset + apex_at,
            "offset": onset + len(images) - 1, "frames": len(images), "rows": 1}


def samm_sheet(tree, clips):
    """SAMM_Micro_FACS_Codes_v2.xlsx: the coding rows with their shipped
    Objective Classes column, below SAMM's free-text preamble."""
    number = {roman: n for n, roman in ROMAN.items()}
    rows = [[c["subject"], c["clip"], number[c["class"]], c["onset"], c["apex"], c["offset"],
             c["frames"], "Micro - 1/2", c["aus"], None, c["label"].capitalize(),
             number[c["class"]]] for c in clips]
    tree.write(SAMM_SHEET, xlsx_bytes(SAMM_HEADER, rows, preamble=SAMM_PREAMBLE))
    return SAMM_SHEET


def smic_subject(identity):
    return "s%d" % (identity + 1)


def smic_clip(tree, images, identity, label, k, first, aus):
    """Write one SMIC-E clip: SMIC/HS/s1/micro/negative/s1_ne_01/image0000001.bmp
    (no apex: `index` takes the middle frame); label non_micro: a clip of
    SMIC/HS/s1/non_micro/s1_01, which are not micro-expressions."""
    subject = smic_subject(identity)
    if label == "non_micro":
        clip = "%s_%02d" % (subject, k + 1)
        folder = "SMIC/%s/%s/non_micro/%s" % (SMIC_CAMERA, subject, clip)
    else:
        clip = "%s_%s_%02d" % (subject, SMIC_SHORT[label], k + 1)
        folder = "SMIC/%s/%s/micro/%s/%s" % (SMIC_CAMERA, subject, label, clip)
    for n, image in enumerate(images):
        tree.write("smic/%s/image%07d.bmp" % (folder, first + n), encode(image, ".bmp"))
    return {"subject": subject, "clip": clip, "folder": folder, "label": label, "aus": aus,
            "onset": first, "offset": first + len(images) - 1, "frames": len(images),
            "rows": 1}
