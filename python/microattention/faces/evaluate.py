"""`faces evaluate`: the leave-one-out landmark error of dlib alone and of
dlib + the AAM fit, on hand-landmarked images."""
import numpy as np

from microattention.faces import aam
from microattention.faces.locator import LOW_THRESHOLD, Locator


def evaluation_start(locator):
    """dlib's 68 points on the face at the hand landmarks (this measures the
    landmarks, not which face the detector picks), or None."""
    def start(gray, truth):
        centre = truth.mean(axis=0)
        for upsample, threshold in ((0, 0.0), (1, 0.0), (1, LOW_THRESHOLD)):
            boxes = [b for b in locator.detector.run(gray, upsample, threshold)[0]
                     if b.left() <= centre[0] <= b.right() and b.top() <= centre[1] <= b.bottom()]
            if boxes:
                b = boxes[0]
                return locator.landmarks(gray, (b.left(), b.top(), b.right(), b.bottom()))
        return None
    return start


def evaluation_table(samples):
    """Leave-one-out: dlib alone vs dlib + AAM (trained on the others), mean
    point error over the hand landmarks' inter-ocular distance."""
    start = evaluation_start(Locator())
    rows = aam.leave_one_out(samples, start)
    lines = ["leave-one-out landmark error / inter-ocular distance (AAM trained on the other "
             "%d images + mirrors; fit from dlib's points)" % (len(samples) - 1), "",
             "| image | dlib | dlib + AAM fit | kept by faces | AAM residual | fit rejected |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.4f | %.4f | %.4f | %.1f | %s |" % (
            r["name"], r["dlib"], r["aam"], r["used"], r["residual"], r["rejected"] or "no"))
    lines.append("| mean | %.4f | %.4f | %.4f | | |" % tuple(
        np.nanmean([r[k] for r in rows]) for k in ("dlib", "aam", "used")))
    return "\n".join(lines)
