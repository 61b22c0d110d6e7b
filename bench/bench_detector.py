"""Measure the YOLO detector beside the sep baseline; prints every figure it measures.

    OMP_NUM_THREADS=2 python bench/bench_detector.py [--weights weights/detector.pt] [--quick]

1. Held-out synthetic fields (scene_synth, cutouts never trained on, default
   asinh render): precision, recall and mAP@0.5 against the detectable truth
   (isophotal S/N >= 5); detections matching an undetectable real object are
   neither true nor false.  A match is IoU >= 0.5 (also printed: the lenient
   "centre" match, each centre inside the other's box, which suits sep's
   ellipse-based boxes).  Completeness versus S/N and recall on blends, sep beside.
2. Real fields (Abell 2744 F105W FITS cutouts, the scikit-image XDF picture):
   the fraction of sep's S/N > 10 sources whose centre lies in a YOLO box, and
   of YOLO boxes that contain a sep source; annotated PNGs in bench/out/.
3. Stretch robustness: recall on one held-out field under five stretches (the
   target's figure), and pooled over all the synthetic section's fields.
4. Speed: render + detect, 2048x2048 and 4096x4096 synthetic fields, with the
   detector's engine and, when that is ONNX Runtime (a matching export lies
   beside the weights), PyTorch too (``speed_torch_*``).

``--upsample 2`` (or 1.5) measures the small-object pass (tiles on the field
upsampled that many times); its figures go to ``bench/out/detector_up2.json``
(``detector_up1.5.json``) and its pictures get an ``_up2`` (``_up1.5``) suffix.
``--tta`` measures the detector with its flip test-time augmentation
(:mod:`galaxy_core.detection.flip_tta`); its outputs get a ``_tta`` suffix.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from galaxy_core.catalog.matching import (  # noqa: E402
    average_precision,
    centres_and_snr,
    evaluate_boxes,
    match_boxes,
    points_in_boxes,
    precision_recall,
)
from galaxy_core.detection.base import UPSAMPLE_FACTORS, as_factor  # noqa: E402
from galaxy_core.detection.boxes import box_iou  # noqa: E402
from galaxy_core.detection.sep import SepDetector  # noqa: E402
from galaxy_core.detection.yolo import BACKENDS, DEFAULT_WEIGHTS, YoloDetector  # noqa: E402
from galaxy_core.display import RenderSettings, render  # noqa: E402
from galaxy_core.types import Field  # noqa: E402
from training.detector.scenes import DATA_DIR, build_library, heldout_field  # noqa: E402

OUT = ROOT / "bench" / "out"
SNR_BINS = (5, 7, 10, 20, 50, 100, np.inf)
SWEEP_CONFS = (0.15, 0.25, 0.35, 0.5)
SIDE_BINS = (0, 5, 6, 8, 12, 20, np.inf)  # px: longest side of sep's box
STRETCHES = {
    "asinh a=0.05, 5-99.8%": RenderSettings(),
    "linear, 99.5%": RenderSettings(interval="percentile", percent=99.5, stretch="linear"),
    "sqrt, zscale": RenderSettings(interval="zscale", stretch="sqrt"),
    "log a=1000, 99.5%": RenderSettings(interval="percentile", percent=99.5, stretch="log", a=1000),
    "histeq, minmax": RenderSettings(interval="minmax", stretch="histeq"),
}


def boxes_of(dets) -> np.ndarray:
    return np.array([[d.x_min, d.y_min, d.x_max, d.y_max] for d in dets], dtype=float).reshape(-1, 4)


def annotate(rgb: np.ndarray, layers: list[tuple[np.ndarray, tuple[int, int, int]]], path: Path,
             max_side: int = 640) -> None:
    """Save ``rgb`` with boxes drawn (one colour per layer), shrunk and palette-quantised."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(rgb)
    scale = min(1.0, max_side / max(im.size))
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
    draw = ImageDraw.Draw(im)
    for boxes, colour in layers:
        for b in boxes:
            x0, y0, x1, y1 = (b + 0.5) * scale
            draw.rectangle([x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)], outline=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.quantize(colors=64).save(path, optimize=True)


def truth_boxes(truth: pd.DataFrame) -> np.ndarray:
    """The truth table's boxes, (N, 4) x_min, y_min, x_max, y_max."""
    return truth[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float)


def heldout_runs(det: YoloDetector, lib, seeds: list[int], size: int, conf: float,
                 tag: str = "") -> list[tuple[pd.DataFrame, dict]]:
    """(truth, {"yolo": detections, "sep": detections}) per held-out field; the first one's boxes drawn."""
    sep_det = SepDetector()
    runs = []
    for seed in seeds:
        field, truth = heldout_field(seed, lib, size=size)
        rgb = render(field, RenderSettings())
        runs.append((truth, {"yolo": det(rgb), "sep": sep_det(field)}))
        if seed == seeds[0]:
            annotate(rgb, [(truth_boxes(truth)[truth["detectable"].to_numpy(bool)], (0, 160, 255)),
                           (boxes_of([d for d in runs[-1][1]["yolo"] if d.score >= conf]),
                            (255, 220, 0))],
                     OUT / f"synthetic_heldout_yolo{tag}.png")
    return runs


def blended_objects(t_boxes: np.ndarray, detectable: np.ndarray) -> np.ndarray:
    """Detectable objects whose box overlaps another detectable object's box."""
    overlap = box_iou(t_boxes, t_boxes) > 0
    np.fill_diagonal(overlap, False)
    return (overlap & detectable[None, :]).any(axis=1) & detectable


def found_objects(b: np.ndarray, sc: np.ndarray, t_boxes: np.ndarray, detectable: np.ndarray,
                  floor: float) -> np.ndarray:
    """Detectable objects matched (IoU >= 0.5) by a box scoring at least ``floor``."""
    found = np.zeros(len(t_boxes), dtype=bool)
    m = match_boxes(b, sc, t_boxes, mode="iou")
    keep = (m >= 0) & (sc >= floor)
    found[m[keep]] = True
    return found & detectable


def evaluate_cut(runs: list, cut: float, conf: float) -> tuple[dict, dict, int]:
    """Against the truth of S/N >= ``cut``: per detector and match mode the evaluations, per detector
    [blended objects found, blended objects], and the number of objects."""
    ev = {"yolo": {"iou": [], "centre": []}, "sep": {"iou": [], "centre": []}}
    blends = {"yolo": [0, 0], "sep": [0, 0]}
    n_obj = 0
    for truth, dets in runs:
        truth = truth.assign(detectable=truth["detectable"] & (truth["snr"] >= cut))
        det_rows = truth["detectable"].to_numpy(bool)
        n_obj += int(det_rows.sum())
        t_boxes = truth_boxes(truth)
        blended = blended_objects(t_boxes, det_rows)
        for name, found_dets in dets.items():
            b, sc = boxes_of(found_dets), np.array([d.score for d in found_dets])
            for mode in ("iou", "centre"):
                ev[name][mode].append(evaluate_boxes(b, sc, truth, mode=mode))
            found = found_objects(b, sc, t_boxes, ev[name]["iou"][-1].detectable,
                                  conf if name == "yolo" else 0.0)
            blends[name][0] += int((found & blended).sum())
            blends[name][1] += int(blended.sum())
    return ev, blends, n_obj


def report_cut(ev: dict, blends: dict, cut: float, conf: float, results: dict) -> None:
    """Print and store precision, recall, AP and blend recall of both detectors at one S/N cut."""
    for name in ("yolo", "sep"):
        row = {}
        for mode in ("iou", "centre"):
            p, r = precision_recall(ev[name][mode], conf if name == "yolo" else 0.0)
            ap = average_precision(ev[name][mode])
            row[mode] = dict(precision=round(p, 4), recall=round(r, 4), ap50=round(ap, 4))
            print(f"{name:4s} [{mode:6s} match] precision {p:.3f}  recall {r:.3f}  "
                  f"AP{'@0.5' if mode == 'iou' else '(centre)'} {ap:.3f}")
        found, total = blends[name]
        row["blend_recall_iou"] = round(found / max(total, 1), 4)
        print(f"{name:4s} recall (IoU) on blended objects (box overlaps another's): "
              f"{found}/{total} = {found / max(total, 1):.3f}")
        results[f"synthetic_{name}_snr{cut:g}"] = row


def completeness_in_bin(runs: list, name: str, lo: float, hi: float, conf: float) -> tuple[dict, int]:
    """Detectable objects of S/N in [lo, hi) that detector ``name`` finds, by match mode, and their number."""
    got = {"iou": 0, "centre": 0}
    n = 0
    for truth, dets in runs:
        snr = truth["snr"].to_numpy()
        in_bin = truth["detectable"].to_numpy(bool) & (snr >= lo) & (snr < hi)
        n += int(in_bin.sum())
        kept = [d for d in dets[name] if name == "sep" or d.score >= conf]
        b = boxes_of(kept)
        sc = np.array([d.score for d in kept])
        for mode in got:
            got[mode] += int((evaluate_boxes(b, sc, truth, mode=mode).found & in_bin).sum())
    return got, n


def completeness_table(runs: list, conf: float, results: dict) -> None:
    """Print and store both detectors' completeness in each of SNR_BINS."""
    print("completeness vs S/N (IoU >= 0.5 / centre match):      yolo          sep        (n)")
    for lo, hi in zip(SNR_BINS[:-1], SNR_BINS[1:], strict=True):
        line = f"    S/N {lo:>4}-{hi:<4}"
        for name in ("yolo", "sep"):
            got, n = completeness_in_bin(runs, name, lo, hi, conf)
            line += f"   {got['iou'] / max(n, 1):.3f} / {got['centre'] / max(n, 1):.3f}"
            results.setdefault(f"completeness_{name}", {})[f"{lo}-{hi}"] = (
                round(got["iou"] / max(n, 1), 4), round(got["centre"] / max(n, 1), 4), n)
        print(line + f"   ({n})")


def synthetic_section(det: YoloDetector, lib, seeds: list[int], size: int, results: dict,
                      conf: float, cuts: tuple[float, ...] = (5.0, 10.0, 20.0), tag: str = "") -> None:
    """Precision, recall, AP, blend recall and completeness of YOLO and sep on held-out synthetic fields."""
    print(f"\n== Held-out synthetic fields: {len(seeds)} x {size}x{size} px, default asinh render ==")
    runs = heldout_runs(det, lib, seeds, size, conf, tag)
    for cut in cuts:
        print(f"-- truth: isophotal S/N >= {cut:g} (matches to fainter real objects ignored) --")
        ev, blends, n_obj = evaluate_cut(runs, cut, conf)
        print(f"{n_obj} objects")
        report_cut(ev, blends, cut, conf, results)
    completeness_table(runs, conf, results)


def real_fields() -> list[Field]:
    """The Abell 2744 F105W FITS cutouts and the XDF picture."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from galaxy_core.io.demo import xdf_field

    fields = []
    for path in sorted((DATA_DIR / "hst" / "abell2744").glob("abell_2744_*_f105w.fits.gz")):
        with fits.open(path) as hdul:
            data = hdul[0].data.astype(np.float32)
            wcs = WCS(hdul[0].header).celestial
        fields.append(Field(data[None], wcs=wcs, name=path.name.split(".")[0]))
    fields.append(xdf_field())
    return fields


def measure_real_field(det: YoloDetector, field: Field, conf: float, tag: str = "") -> dict:
    """Counts of sep's sources inside YOLO boxes and of YOLO boxes holding a sep source, at ``conf``
    and per SWEEP_CONFS threshold (``sweep``) and sep box side (``by_side``); the boxes drawn."""
    rgb = render(field, None)
    every = det(rgb, wcs=field.wcs)
    scores = np.array([d.score for d in every])
    seps = SepDetector()(field)
    sep_xy, snr = centres_and_snr(seps)
    strong, very = snr > 10, snr > 30
    eb = boxes_of(every)
    inside_all = points_in_boxes(sep_xy, eb)  # (YOLO boxes, sep sources)
    sweep = {}
    for c in SWEEP_CONFS:  # sep10 found, sep10, confirmed, boxes
        rows = inside_all[scores >= c]
        sweep[c] = ((rows.any(axis=0) & strong).sum(), strong.sum(), rows.any(axis=1).sum(), len(rows))
    keep = scores >= conf
    yb, sb = eb[keep], boxes_of(seps)
    inside = inside_all[keep]
    found = inside.any(axis=0) & strong
    side = np.maximum(sb[:, 2] - sb[:, 0], sb[:, 3] - sb[:, 1]) if len(sb) else np.zeros(0)
    annotate(rgb, [(sb[strong], (0, 160, 255)), (yb, (255, 220, 0))], OUT / f"real_{field.name}{tag}.png")
    return dict(sep10=int(strong.sum()), sep10_found=int(found.sum()), sep30=int(very.sum()),
                sep30_found=int((inside.any(axis=0) & very).sum()), yolo=int(keep.sum()),
                yolo_in_sep=int(inside.any(axis=1).sum()), sweep=sweep,
                by_side=np.stack([np.histogram(side[found], SIDE_BINS)[0],
                                  np.histogram(side[strong], SIDE_BINS)[0]]))


def report_real_totals(totals: dict, by_side: np.ndarray, sweep: dict, results: dict) -> None:
    """Print and store the figures over all real fields: in all, by sep box side, by score threshold."""
    f1 = totals["sep10_found"] / max(totals["sep10"], 1)
    f2 = totals["yolo_in_sep"] / max(totals["yolo"], 1)
    print(f"all real fields: sep S/N>10 found by YOLO {totals['sep10_found']}/{totals['sep10']} = "
          f"{f1:.3f};  YOLO boxes containing a sep source {totals['yolo_in_sep']}/{totals['yolo']} "
          f"= {f2:.3f}")
    print(f"(stricter: sep S/N>30 found by YOLO {totals['sep30_found']}/{totals['sep30']})")
    results["real_total"] = dict(totals, sep10_found_fraction=round(f1, 4),
                                 yolo_confirmed_fraction=round(f2, 4))
    print("all real fields by sep box side: sep S/N>10 found by YOLO")
    for lo, hi, found, n in zip(SIDE_BINS[:-1], SIDE_BINS[1:], *by_side, strict=True):
        print(f"    {lo:>2.0f}-{hi:<3.0f} px: {found:4d}/{n:4d} = {found / max(n, 1):.3f}")
        results.setdefault("real_by_side", {})[f"{lo:.0f}-{hi:.0f}"] = dict(
            sep10=int(n), sep10_found=int(found))
    print("all real fields by score threshold: sep S/N>10 found / YOLO boxes with a sep source")
    for c, (found, n10, confirmed, n) in sweep.items():
        print(f"    conf {c:.2f}: {found / max(n10, 1):.3f} / {confirmed / max(n, 1):.3f}  ({n} boxes)")
        results.setdefault("real_by_conf", {})[f"{c:.2f}"] = dict(
            sep10_found_fraction=round(found / max(n10, 1), 4),
            yolo_confirmed_fraction=round(confirmed / max(n, 1), 4), yolo=n)


def real_section(det: YoloDetector, results: dict, conf: float, tag: str = "") -> None:
    """How many of sep's S/N > 10 sources YOLO finds on real fields, and how many YOLO boxes sep confirms."""
    print("\n== Real fields: sep S/N > 10 sources found by YOLO, YOLO boxes sep also finds ==")
    fields = real_fields()
    totals = dict(sep10=0, sep10_found=0, sep30=0, sep30_found=0, yolo=0, yolo_in_sep=0)
    sweep = {c: [0, 0, 0, 0] for c in SWEEP_CONFS}  # sep10 found, sep10, confirmed, boxes
    by_side = np.zeros((2, len(SIDE_BINS) - 1), int)  # sep10 found, sep10 per side bin
    for field in fields:
        counts = measure_real_field(det, field, conf, tag)
        for c in SWEEP_CONFS:
            sweep[c] = [a + int(b) for a, b in zip(sweep[c], counts["sweep"][c], strict=True)]
        by_side += counts["by_side"]
        for k in totals:
            totals[k] += counts[k]
        row = dict(size=f"{field.width}x{field.height}", sep_snr10=counts["sep10"],
                   sep_snr10_found=counts["sep10_found"], yolo=counts["yolo"], yolo_with_sep=counts["yolo_in_sep"])
        results.setdefault("real", {})[field.name] = row
        print(f"{field.name:38s} {row['size']:>9s}  sep S/N>10: {row['sep_snr10_found']:3d}/{row['sep_snr10']:3d} "
              f"found   YOLO boxes with a sep source: {row['yolo_with_sep']:3d}/{row['yolo']:3d}")
    report_real_totals(totals, by_side, sweep, results)


def stretch_section(det: YoloDetector, lib, seeds: list[int], size: int, results: dict,
                    conf: float) -> None:
    """Recall under each of STRETCHES on the first held-out field (the target's figure), and
    pooled over all ``seeds`` (more objects, so less noise)."""
    print(f"\n== Stretch robustness: held-out fields {seeds}, {size}x{size}, recall (IoU >= 0.5) ==")
    fields = [heldout_field(seed, lib, size=size) for seed in seeds]
    evals: dict[str, list] = {}
    for name, settings in STRETCHES.items():
        for field, truth in fields:
            dets = [d for d in det(render(field, settings)) if d.score >= conf]
            evals.setdefault(name, []).append(
                evaluate_boxes(boxes_of(dets), np.array([d.score for d in dets]), truth, mode="iou"))
    views = [(f"field {seeds[0]}", "stretch_recall", slice(0, 1))]
    if len(seeds) > 1:
        views.append((f"{len(seeds)} fields pooled", "stretch_recall_pooled", slice(None)))
    for label, key, pick in views:
        print(f"-- {label} --")
        recalls = {}
        for name, ev in evals.items():
            p, r = precision_recall(ev[pick], conf)
            recalls[name] = r
            print(f"{name:24s} recall {r:.3f}  precision {p:.3f}")
        best, worst = max(recalls.values()), min(recalls.values())
        print(f"worst / best recall = {worst:.3f} / {best:.3f} = {worst / max(best, 1e-9):.3f}")
        results[key] = {k: round(v, 4) for k, v in recalls.items()}


def speed_section(det: YoloDetector, results: dict, repeats: int, key: str = "speed") -> None:
    import torch

    from galaxy_core.io.synthetic import synthetic_field

    print(f"\n== Speed, end to end (render + detect), {det.backend}, "
          f"torch threads {torch.get_num_threads()} ==")
    field, _ = synthetic_field(seed=0, size=2048)
    big = Field(np.tile(field.data, (1, 2, 2)), name="synthetic_4096")
    det(render(field, RenderSettings()))  # warm-up
    for f in (field, big):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            rgb = render(f, RenderSettings())
            t1 = time.perf_counter()
            n = len(det(rgb))
            times.append((t1 - t0, time.perf_counter() - t1))
        r, d = np.median(np.array(times), axis=0)
        print(f"{f.width}x{f.height}: render {r:.2f} s + detect {d:.2f} s = {r + d:.2f} s "
              f"({n} detections, median of {repeats})")
        results[f"{key}_{f.width}"] = dict(render_s=round(float(r), 3), detect_s=round(float(d), 3))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--conf", type=float, default=0.25, help="operating confidence (P, R)")
    p.add_argument("--ap-conf", type=float, default=0.01, help="confidence floor for AP curves")
    p.add_argument("--fields", type=int, default=3, help="held-out synthetic fields")
    p.add_argument("--size", type=int, default=1024, help="side of the held-out fields (px)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch threads (ultralytics sets cores - 1)")
    p.add_argument("--skip", nargs="*", default=[], choices=["synthetic", "real", "stretch", "speed"])
    p.add_argument("--upsample", type=as_factor, default=1, choices=UPSAMPLE_FACTORS,
                   help="the detector's small-object pass factor")
    p.add_argument("--tta", action="store_true",
                   help="the detector's flip test-time augmentation (4 views per tile)")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="inference engine for the accuracy sections and the first speed run")
    args = p.parse_args(argv)
    tag = ("" if args.upsample == 1 else f"_up{args.upsample}") + ("_tta" if args.tta else "")
    det = YoloDetector(args.weights, conf=min(args.conf, args.ap_conf), upsample=args.upsample,
                       tta=args.tta, backend=args.backend)
    import torch

    torch.set_num_threads(args.threads)
    print(det)
    lib = build_library()
    results: dict = {"detector": repr(det)}
    if "synthetic" not in args.skip:
        synthetic_section(det, lib, list(range(100, 100 + args.fields)), args.size, results,
                          args.conf, tag=tag)
    if "real" not in args.skip:
        real_section(det, results, args.conf, tag=tag)
    if "stretch" not in args.skip:
        stretch_section(det, lib, list(range(100, 100 + args.fields)), args.size, results,
                        args.conf)
    if "speed" not in args.skip:
        fast = YoloDetector(args.weights, conf=args.conf, upsample=args.upsample, tta=args.tta,
                            backend=args.backend)
        speed_section(fast, results, args.repeats)
        if fast.backend == "onnx":
            speed_section(YoloDetector(args.weights, conf=args.conf, upsample=args.upsample,
                                       tta=args.tta, backend="torch"),
                          results, args.repeats, key="speed_torch")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"detector{tag}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nfigures saved to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
