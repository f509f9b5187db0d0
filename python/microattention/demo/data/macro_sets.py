"""The released layouts of Oulu-CASIA, JAFFE and MUG as the rehearsal
writes them (CK+'s are in layouts.py), and MUG's apex file, which a MUG
user makes (the release has no apex): folder, file and subject names, the
images each layout stores. Each writer takes the rendered frames and
returns the clip's record, named as `index` will name it."""
from microattention.datasets import mug, oulu
from microattention.demo.data.layouts import encode

# Oulu-CASIA NIR&VIS: VIS camera, normal light; `index` takes the last
# frames of each sequence (neutral to peak).
OULU_FOLDER = "OriginalImg/VL/Strong"
# JAFFE: one posed photograph per file, SUBJECT.CODEn.ID.tiff, gray.
JAFFE_CODES = {"happiness": "HA", "surprise": "SU", "anger": "AN", "disgust": "DI",
               "sadness": "SA", "fear": "FE", "neutral": "NE"}
# Two-letter subject codes, not those of the real JAFFE posers.
JAFFE_SUBJECTS = ("RA", "RB", "RC", "RD", "RE", "RF")
# MUG: clips go neutral -> apex -> neutral; `index` takes 6 to 10 frames
# around the apex (mug.frames_for: at least 6).
MUG_FOLDER = "subjects3"
MUG_APEX_FILE = "mug-apex.csv"


def oulu_subject(identity):
    return "P%03d" % (identity + 1)


def oulu_sequence(tree, images, identity, label, aus):
    """Write one sequence: OriginalImg/VL/Strong/P001/Anger/000.jpeg ..."""
    subject = oulu_subject(identity)
    expression = label.capitalize()
    folder = "%s/%s/%s" % (OULU_FOLDER, subject, expression)
    for n, image in enumerate(images):
        tree.write("oulu/%s/%03d.jpeg" % (folder, n), encode(image, ".jpg"))
    return {"subject": subject, "clip": "%s_%s" % (subject, expression), "folder": folder,
            "label": label, "aus": aus,
            "frames": len(images), "rows": oulu.LAST_FRAMES}


def jaffe_subject(identity):
    return JAFFE_SUBJECTS[identity]


def jaffe_image(tree, image, identity, label, k, image_id, aus):
    """Write one JAFFE image: KA.AN1.39.tiff (the k-th pose of a class,
    numbered from 1; `image_id` the running number of the release)."""
    subject = jaffe_subject(identity)
    clip = "%s.%s%d.%d" % (subject, JAFFE_CODES[label], k + 1, image_id)
    tree.write("jaffe/%s.tiff" % clip, encode(image, ".tiff"))
    # a JAFFE sample is a file, not a folder
    return {"subject": subject, "clip": clip, "file": "%s.tiff" % clip, "label": label,
            "aus": aus, "frames": 1, "rows": 1}


def mug_subject(identity):
    return "%03d" % (identity + 1)


def mug_take(tree, images, identity, label, k, apex_at, aus):
    """Write one take: subjects3/001/happiness/take000/img_0001.jpg ...;
    the apex (frame apex_at + 1) goes to the apex file, not the tree."""
    subject = mug_subject(identity)
    expression = label
    take = "take%03d" % k
    folder = "%s/%s/%s/%s" % (MUG_FOLDER, subject, expression, take)
    for n, image in enumerate(images, start=1):
        tree.write("mug/%s/img_%04d.jpg" % (folder, n), encode(image, ".jpg"))
    return {"subject": subject, "clip": "%s_%s_%s" % (subject, expression, take),
            "folder": folder, "label": label, "aus": aus,
            "take": take, "apex": apex_at + 1, "frames": len(images),
            "rows": mug.frames_for(len(images), *mug.frame_range(mug.DEFAULT_FRAMES))}


def mug_apex_csv(clips):
    """The --mug-apex file: subject, expression, take, apex (a frame number)."""
    lines = ["subject,expression,take,apex"]
    lines += ["%s,%s,%s,%d" % (c["subject"], c["label"], c["take"], c["apex"]) for c in clips]
    return "\n".join(lines) + "\n"
