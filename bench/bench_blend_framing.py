"""Does a neighbour change what the classifier sees of a galaxy?  Framing in crowded fields.

    python bench/bench_blend_framing.py [--fields 4] [--density 20 60]

The app frames every detection before classifying it
(:func:`galaxy_core.morphology.framing.frame_detection`): it segments the object in a
window of 3x its box and measures its extent and centre from the segment.  In
a crowded field a neighbour's light can join the segment, and the crop is then
framed on the pair.  This bench measures how often, and what the neighbours'
boxes (``others=``) change.

Held-out synthetic fields (:func:`training.detector.scenes.make_scene`, real
galaxy cutouts never trained on, a quarter of them placed next to another) are
rendered with one fixed asinh stretch.  Every detectable galaxy is framed from
its truth box (a perfect detector) three ways:

- ``alone``: the same field with every other object removed (the reference:
  what the classifier would see with no neighbour);
- ``field``: in the field, as the app did before (no other boxes);
- ``field+others``: in the field, the other truth boxes passed as ``others``.

Printed: the share of galaxies whose extent is more than 1.3x (``leak``) or
less than 1/1.3 (``cut``) their ``alone`` extent, the median |ln ratio|, and
the share the shipped classifier (no TTA) gives the same class as ``alone``;
for all galaxies, for those with another object's box within 2x their own
(``crowded``) and for the rest (``isolated``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from galaxy_core.display import RenderSettings, render  # noqa: E402
from galaxy_core.morphology.classifier import Classifier  # noqa: E402
from galaxy_core.morphology.framing import frame_detection  # noqa: E402
from galaxy_core.types import Detection, Field  # noqa: E402
from training.detector.scenes import _paste, build_library, make_scene, truth_table  # noqa: E402

MODES = ("field", "field+others")


def crowded(boxes: np.ndarray, i: int, grow: float = 2.0) -> bool:
    """Whether another box overlaps box ``i`` grown ``grow`` times about its centre."""
    x0, y0, x1, y1 = boxes[i]
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, grow * (x1 - x0) / 2, grow * (y1 - y0) / 2
    o = np.delete(boxes, i, axis=0)
    return bool(np.any((o[:, 0] < cx + hw) & (o[:, 2] > cx - hw) & (o[:, 1] < cy + hh) & (o[:, 3] > cy - hh)))


def field_rows(seed: int, lib, clf: Classifier, *, size: int, density: float) -> list[dict]:
    """One dict per detectable galaxy of held-out field ``seed``: extents and classes per mode."""
    rng = np.random.default_rng([seed, 11])
    field, placed = make_scene(rng, lib, size=size, split="val", density=density)
    sky = field.data.copy()
    for p in placed:  # the noise and pedestal alone
        neg = type(p)(p.kind, p.row0, p.col0, -p.model)
        _paste(sky, neg)
    pedestal = float(np.median(sky))
    settings = RenderSettings(interval="manual", vmin=pedestal - 1.0, vmax=pedestal + 200.0,
                              stretch="asinh", a=0.05)
    rgb = render(field, settings)
    truth = [(p, truth_table(field, [p])) for p in placed]
    truth = [(p, t.iloc[0]) for p, t in truth if len(t)]
    boxes = np.array([(t.x_min, t.y_min, t.x_max, t.y_max) for _, t in truth], dtype=float).reshape(-1, 4)
    rows, crops = [], {m: [] for m in ("alone", *MODES)}
    for i, (p, t) in enumerate(truth):
        if p.kind != "galaxy" or not t.detectable:
            continue
        det = Detection(i + 1, t.x_min, t.y_min, t.x_max, t.y_max, t.x, t.y, 1.0)
        alone = sky.copy()
        _paste(alone, p)
        rgb_alone = render(Field(alone, name="alone", kind="fits"), settings)
        row = {"field": seed, "box_px": float(max(det.width, det.height)), "snr": float(t.snr),
               "crowded": crowded(boxes, i)}
        for mode, image, others in (("alone", rgb_alone, None), ("field", rgb, None),
                                    ("field+others", rgb, boxes)):
            crop, extent, _ = frame_detection(image, det, clf.input_size, settings=clf.framing, others=others)
            row[f"extent_{mode}"] = extent
            crops[mode].append(crop)
        rows.append(row)
    if rows:
        for mode, cs in crops.items():
            labels = clf.predict(np.stack(cs), tta=False, framed=True).argmax(axis=1)
            for r, lab in zip(rows, labels, strict=True):
                r[f"class_{mode}"] = int(lab)
    return rows


def summary(rows: list[dict]) -> dict:
    out = {"n": len(rows)}
    for mode in MODES:
        ratio = np.array([r[f"extent_{mode}"] / r["extent_alone"] for r in rows])
        same = np.array([r[f"class_{mode}"] == r["class_alone"] for r in rows])
        out[mode] = {"leak": float((ratio > 1.3).mean()), "cut": float((ratio < 1 / 1.3).mean()),
                     "median_abs_log_ratio": float(np.median(np.abs(np.log(ratio)))),
                     "same_class": float(same.mean())}
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fields", type=int, default=4, help="held-out fields per density")
    p.add_argument("--size", type=int, default=768, help="field side, px")
    p.add_argument("--density", nargs="+", type=float, default=[20.0, 60.0],
                   help="galaxies per 320x320 px")
    p.add_argument("--weights", default=None, help="classifier checkpoint (default: the shipped one)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    clf = Classifier.load(args.weights)
    lib = build_library()
    rows: list[dict] = []
    t0 = time.perf_counter()
    for density in args.density:
        for k in range(args.fields):
            rows += [dict(r, density=density) for r in field_rows(1000 + k, lib, clf, size=args.size,
                                                                  density=density)]
    print(f"{len(rows)} detectable galaxies in {len(args.density) * args.fields} fields "
          f"({time.perf_counter() - t0:.0f} s)")
    results = {"all": summary(rows)}
    for name, sel in (("crowded", [r for r in rows if r["crowded"]]),
                      ("isolated", [r for r in rows if not r["crowded"]])):
        if sel:
            results[name] = summary(sel)
    print(f"{'subset':9s} {'n':>5s}  {'mode':13s} {'leak >1.3x':>10s} {'cut <1/1.3':>10s} "
          f"{'med |ln r|':>10s} {'same class as alone':>20s}")
    for name, res in results.items():
        for mode in MODES:
            m = res[mode]
            print(f"{name:9s} {res['n']:5d}  {mode:13s} {m['leak']:10.3f} {m['cut']:10.3f} "
                  f"{m['median_abs_log_ratio']:10.3f} {m['same_class']:20.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": results, "rows": rows}, indent=1))
    return results


if __name__ == "__main__":
    main()
