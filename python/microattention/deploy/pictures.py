"""predict's pictures of a clip: the apex-spotting curve (spotting.png) and
the Figure-4-style overlay of the apex face (attention.png).
"""
import numpy as np

from microattention.attention import maps, regions, render

CURVE_PNG = "spotting.png"
OVERLAY_PNG = "attention.png"


def curve_png(doc):
    import matplotlib  # lazy: slow to import, and only the pictures need it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib loads slowly, only pictures need it
    c = doc["curve"]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.plot(c["frames"], c["difference"], color="0.6", lw=1, label="difference from onset")
    if c["smoothed"] is not None:
        ax.plot(c["frames"], [np.nan if v is None else v for v in c["smoothed"]], color="C0",
                lw=1.5, label="smoothed (window %d)" % doc["smoothing_window"])
    ax.axvline(doc["onset_frame"], color="C2", ls="--", lw=1, label="onset %d"
               % doc["onset_frame"])
    ax.axvline(doc["apex_frame"], color="C3", lw=1.5, label="apex %d (%s)" % (
        doc["apex_frame"], "given" if doc["method"].startswith("given") else "spotted"))
    ax.set_xlabel("frame")
    ax.set_ylabel("mean |grey-level difference|")
    ax.legend(fontsize=7)
    return render.png(fig, "%s: apex spotting" % doc["clip"]["name"], 9, 100)


def overlay_png(doc, model, face, points, face_maps):
    """render.render's Figure-4 picture of the apex face: the face (with the
    predicted class's AU regions when its landmarks are known) and each map."""
    label = doc["class"]
    aus = regions.REGION_AUS.get(label)
    mask = None
    if points is not None and aus:
        mask = regions.region_mask(points, aus, face.shape)
    rows = [{"net": model.doc["net"],
             "pred": "predicted %s (p %.2f)%s" % (
                 label, doc["probabilities"][label],
                 "\nAU%s regions" % "+".join(map(str, aus)) if mask is not None else ""),
             "maps": maps.score_maps(face_maps, None, face.shape[0])}]
    title = "%s, apex frame %d" % (doc["clip"]["name"], doc["apex_frame"])
    return render.render(title, face, rows, points, mask, None, None)
