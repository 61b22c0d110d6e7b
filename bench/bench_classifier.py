"""Measure the shipped morphology classifier against the issue's targets and print the figures.

    python bench/bench_classifier.py --data ../shared/data
    python bench/bench_classifier.py --data ../shared/data --figures weights --update-checkpoint

Everything is measured on the validation split of ``../shared/data`` (the
split recorded in the checkpoint), starting from the original image files and
going through :class:`galaxy_core.morphology.classifier.Classifier` exactly as the CLI
does.  Targets: accuracy >= 0.90, balanced accuracy >= 0.85, Star/Artifact
recall >= 0.95, gz2_spiral two-way accuracy >= 0.90 (on gz2's validation split,
which ``--gz2-two-way`` training never sees; the whole set is printed too), framing consistency
(box x1.5 vs x3) >= 0.90, ECE <= 0.05, >= 100 crops/s on 2 CPU cores without TTA.

``--update-checkpoint`` stores the TTA temperature (fitted on the validation
TTA logits) and whether TTA is on by default (on when it raises validation
accuracy) in the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from galaxy_core.io.picture import read_rgb  # noqa: E402
from galaxy_core.morphology import calibration, checkpoint  # noqa: E402
from galaxy_core.morphology.classifier import Classifier  # noqa: E402
from galaxy_core.morphology.framing import FramingSettings, frame_crop, measure_extent  # noqa: E402
from galaxy_core.types import CLASS_INDEX, CLASS_NAMES  # noqa: E402
from training.classifier.data import grey_galaxy_items, gz2_items, labelled_items  # noqa: E402
from training.classifier.train import (  # noqa: E402
    FIELD_WINDOW_PX,
    classification_metrics,
    two_way_scores,
)

WINDOW = FramingSettings(fill=1.0, min_side_px=2.0, max_shrink=1.0)


def item_image(path: str, x_px: float, y_px: float, cache: dict) -> np.ndarray:
    """The item as a user would hand it over: the file, or a window around a field star."""
    if not np.isfinite(x_px):
        return read_rgb(path)
    if path not in cache:
        cache[path] = read_rgb(path)
    return frame_crop(cache[path], (x_px, y_px), FIELD_WINDOW_PX, FIELD_WINDOW_PX, settings=WINDOW)


def reframe(img: np.ndarray, factor: float) -> np.ndarray:
    """A square crop of side ``factor`` x the object's box (its measured extent) around it."""
    ext = measure_extent(img)
    side = max(factor * ext.extent_px, 8.0)
    return frame_crop(img, (ext.x, ext.y), side, int(round(side)), settings=WINDOW)


def confusion_png(cm: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=90)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    short = ["Spiral", "Barred", "Ellipt.", "On_Edge", "Irreg.", "Star/Art."]
    ax.set_xticks(range(6), short, rotation=30, fontsize=8)
    ax.set_yticks(range(6), short, fontsize=8)
    for i in range(6):
        for j in range(6):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def ablation_png(histories: dict[str, list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0), dpi=90)
    for name, hist in histories.items():
        ep = [h["epoch"] + 1 for h in hist]
        axes[0].plot(ep, [h["val_acc"] for h in hist], "o-", label=name)
        axes[1].plot(ep, [h["val_bal_acc"] for h in hist], "o-", label=name)
    for ax, t in zip(axes, ("validation accuracy", "validation balanced accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_title(t, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cross_fitted_ece(logits: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """ECE with the temperature fitted on one half of the items and measured on the other (2-fold)."""
    idx = np.random.default_rng(seed).permutation(len(labels))
    halves = [idx[: len(idx) // 2], idx[len(idx) // 2:]]
    probs = np.zeros_like(logits)
    for fit, test in (halves, halves[::-1]):
        t = calibration.fit_temperature(logits[fit], labels[fit])
        probs[test] = calibration.softmax(logits[test], t)
    return calibration.expected_calibration_error(probs, labels)


def trained_on_gz2(recipe: dict) -> bool:
    """Whether the checkpoint, or any checkpoint averaged into it, trained on gz2's training split."""
    if "average_of" in recipe:
        return any(trained_on_gz2(i["recipe"] or {}) for i in recipe["inputs"])
    return bool(recipe.get("args", {}).get("gz2_two_way", False))


#: The validation metrics reported (and stored in the JSON) for each of "no TTA" and "TTA".
REPORTED_METRICS = ("accuracy", "balanced_accuracy", "recall", "precision", "temperature",
                    "ece", "ece_cross_fitted", "ece_uncalibrated", "confusion")


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--weights", default=None, help="checkpoint (default weights/classifier.pt)")
    p.add_argument("--figures", default=None, help="write the PNGs into this folder")
    p.add_argument("--update-checkpoint", action="store_true",
                   help="store the TTA temperature and the TTA default in the checkpoint")
    p.add_argument("--ablation", nargs="*", default=[], metavar="NAME=HISTORY.json",
                   help="per-epoch histories of the augmentation ablation runs")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is for 2 cores)")
    p.add_argument("--json", default=None, help="also write the figures as JSON here")
    p.add_argument("--limit", type=int, default=0, help="use only this many items per set (a quick smoke run)")
    p.add_argument("--markdown", default=None, help="also write the figures as Markdown tables here")
    return p.parse_args(argv)


def subsample(items: pd.DataFrame, limit: int) -> pd.DataFrame:
    """``limit`` rows of ``items`` drawn with a fixed seed (all of them when ``limit`` is 0)."""
    if not limit:
        return items
    return items.sample(min(limit, len(items)), random_state=0).reset_index(drop=True)


def validation_images(data: str, split_seed: int, limit: int) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The labelled validation items and their images as a user would hand them over."""
    items = labelled_items(data, seed=split_seed)
    val = subsample(items[items["split"] == "val"].reset_index(drop=True), limit)
    cache: dict = {}
    t0 = time.time()
    images = [item_image(r.path, r.x_px, r.y_px, cache) for r in val.itertuples()]
    print(f"validation: {len(val)} items decoded in {time.time() - t0:.1f} s")
    return val, images


def seconds(run) -> float:
    """Wall time of ``run()``, s."""
    t0 = time.time()
    run()
    return time.time() - t0


def throughput(clf: Classifier, crops3: list[np.ndarray]) -> dict:
    """Crops/s without TTA on box x3 crops as the app cuts them (framing + network), on already
    framed crops (network only), with TTA, and through the other engine (PyTorch when the
    default is ONNX Runtime)."""
    n_speed = min(512, len(crops3))
    clf.logits(crops3[:64], tta=False)  # warm-up
    rate = n_speed / seconds(lambda: clf.logits(crops3[:n_speed], tta=False))
    framed = np.stack([clf.frame(c) for c in crops3[:n_speed]])
    rate_net = n_speed / seconds(lambda: clf.logits(framed, tta=False, framed=True))
    rate_tta = 128 / seconds(lambda: clf.logits(crops3[:128], tta=True))
    other = Classifier.load(clf.path, backend="torch" if clf.backend == "onnx" else "auto")
    other.logits(crops3[:64], tta=False)  # warm-up
    rate_other = n_speed / seconds(lambda: other.logits(crops3[:n_speed], tta=False))
    return dict(crops_per_s=rate, crops_per_s_network_only=rate_net, crops_per_s_tta=rate_tta,
                backend=clf.backend, other_backend=other.backend, crops_per_s_other_backend=rate_other,
                crop_side_px_median=float(np.median([c.shape[0] for c in crops3])))


def calibrated_metrics(z: np.ndarray, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    """Metrics and probabilities of logits ``z`` after fitting their temperature, with the ECEs."""
    t = calibration.fit_temperature(z, labels)
    probs = calibration.softmax(z, t)
    m = classification_metrics(probs, labels)
    m.update(temperature=t, ece=calibration.expected_calibration_error(probs, labels),
             ece_cross_fitted=cross_fitted_ece(z, labels),
             ece_uncalibrated=calibration.expected_calibration_error(calibration.softmax(z), labels))
    return m, probs


def evaluate_modes(clf: Classifier, framed_val: np.ndarray, labels: np.ndarray) -> dict:
    """{"no TTA" / "TTA": (metrics, calibrated probabilities, logits)} on the framed validation crops."""
    z_plain = clf.logits(framed_val, tta=False, framed=True)
    z_tta = clf.logits(framed_val, tta=True, framed=True)
    return {name: (*calibrated_metrics(z, labels), z) for name, z in (("no TTA", z_plain), ("TTA", z_tta))}


def record_modes(results: dict, out: dict) -> bool:
    """Put both modes' figures and the default mode (TTA where it raises accuracy) into ``out``;
    returns whether TTA is the default."""
    for name, (metrics, _, _) in results.items():
        out[name] = {k: metrics[k] for k in REPORTED_METRICS}
    use_tta = results["TTA"][0]["accuracy"] > results["no TTA"][0]["accuracy"]
    out["default_mode"] = "TTA" if use_tta else "no TTA"
    return use_tta


def update_checkpoint(clf: Classifier, results: dict, use_tta: bool, out: dict) -> Classifier:
    """Store both temperatures, the TTA default and the figures so far in the checkpoint; reload it."""
    ckpt = checkpoint.read(clf.path)
    ckpt = replace(ckpt, temperature=float(results["no TTA"][0]["temperature"]),
                   temperature_tta=float(results["TTA"][0]["temperature"]), tta=bool(use_tta),
                   metrics={**ckpt.metrics, "bench": {k: v for k, v in out.items() if k != "weights"}})
    checkpoint.write(ckpt, clf.path)
    print(f"checkpoint updated: T={ckpt.temperature:.3f} T_tta={ckpt.temperature_tta:.3f} "
          f"tta default={use_tta}")
    return Classifier.load(clf.path)


def accuracy_by_source(val: pd.DataFrame, pred: np.ndarray, labels: np.ndarray) -> dict:
    """{source: {n, accuracy}} of the validation items."""
    by_source = {}
    for src in sorted(val["source"].unique()):
        sel = (val["source"] == src).to_numpy()
        by_source[src] = {"n": int(sel.sum()), "accuracy": float((pred[sel] == labels[sel]).mean())}
    return by_source


def greyscaled_galaxies(clf: Classifier, framed_val: np.ndarray, labels: np.ndarray, pred: np.ndarray,
                        use_tta: bool) -> dict:
    """"Grey means star"? The validation galaxies greyscaled: accuracy and the share called Star."""
    galaxies = np.flatnonzero(labels != CLASS_INDEX["Star/Artifact"])
    # Framing measures the mean of the three channels, so greyscaling the framed crop
    # is the same as framing the greyscaled image.
    grey = np.repeat(framed_val[galaxies].mean(axis=3, keepdims=True), 3, axis=3).round().astype(np.uint8)
    pg = clf.predict(grey, tta=use_tta, framed=True)
    return {"n": len(galaxies), "accuracy": float((pg.argmax(1) == labels[galaxies]).mean()),
            "accuracy_colour": float((pred[galaxies] == labels[galaxies]).mean()),
            "called_star": float((pg.argmax(1) == CLASS_INDEX["Star/Artifact"]).mean())}


def grey_ground_based(clf: Classifier, data: str, split_seed: int, limit: int, use_tta: bool) -> dict:
    """The share of the real grey ground-based validation galaxies called Star/Artifact."""
    gg = grey_galaxy_items(data, seed=split_seed)
    gg = gg[gg["split"] == "val"].head(limit or None)
    pgg = clf.predict([read_rgb(q) for q in gg["path"]], tta=use_tta)
    return {"n": len(gg), "called_star": float((pgg.argmax(1) == CLASS_INDEX["Star/Artifact"]).mean())}


def gz2_two_way_checks(clf: Classifier, data: str, split_seed: int, limit: int,
                       use_tta: bool) -> tuple[dict, dict]:
    """gz2_spiral two-way scores (P(Spiral) + P(Spiral_Barred) > 0.5) on gz2's validation split
    (never trained on) and on the whole set (its training split is trained on with --gz2-two-way)."""
    gz2 = subsample(gz2_items(data, seed=split_seed), limit)
    p2 = clf.predict([read_rgb(q) for q in gz2["path"]], tta=use_tta)
    truth, val = gz2["spiral"].to_numpy(), gz2["split"].to_numpy() == "val"
    return two_way_scores(p2[val], truth[val]), two_way_scores(p2, truth)


def framing_consistency(clf: Classifier, images: list[np.ndarray], crops3: list[np.ndarray],
                        labels: np.ndarray, use_tta: bool) -> dict:
    """How often two framings of the same object, boxes x1.5 and x3 around its extent, get one class."""
    c15 = clf.predict([reframe(im, 1.5) for im in images], tta=use_tta).argmax(1)
    c3 = clf.predict(crops3, tta=use_tta).argmax(1)
    gal = labels != CLASS_INDEX["Star/Artifact"]
    return {"all": float((c15 == c3).mean()), "galaxies": float((c15[gal] == c3[gal]).mean()), "n": len(images)}


def write_figures(fig_dir: Path, m: dict, probs: np.ndarray, z: np.ndarray, labels: np.ndarray,
                  mode: str) -> None:
    """The confusion matrix and the reliability diagram of the default mode, as PNGs."""
    confusion_png(np.array(m["confusion"]), fig_dir / "classifier_confusion.png",
                  f"validation ({mode}), n={len(labels)}: acc {m['accuracy']:.3f}, "
                  f"bal. acc {m['balanced_accuracy']:.3f}")
    calibration.reliability_diagram(probs, labels, fig_dir / "classifier_reliability.png",
                                    uncalibrated=calibration.softmax(z),
                                    title=f"validation reliability ({mode})")


def ablation_histories(specs: list[str]) -> dict[str, list]:
    """{name: per-epoch history} from ``NAME=HISTORY.json`` specs."""
    hist = {}
    for spec in specs:
        name, path = spec.split("=", 1)
        hist[name] = json.loads(Path(path).read_text())
    return hist


def ablation_summary(hist: dict[str, list]) -> dict:
    """Final and best validation figures of each ablation run."""
    return {k: {"final_val_acc": h[-1]["val_acc"], "final_val_bal_acc": h[-1]["val_bal_acc"],
                "best_val_acc": max(r["val_acc"] for r in h), "epochs": len(h)}
            for k, h in hist.items()}


def ablation(specs: list[str], fig_dir: Path | None) -> dict:
    """The ablation runs' summary (and their curves as a PNG when there is a figure folder)."""
    hist = ablation_histories(specs)
    if fig_dir:
        ablation_png(hist, fig_dir / "classifier_ablation.png")
    return ablation_summary(hist)


def print_validation(out: dict, labels: np.ndarray, mode: str) -> None:
    """The validation figures: both modes, then per class and the confusion of the default mode."""
    print("\n== morphology classifier, validation split ==")
    for name in ("no TTA", "TTA"):
        r = out[name]
        print(f"[{name:6s}] accuracy {r['accuracy']:.4f} (target >= 0.90) | balanced accuracy "
              f"{r['balanced_accuracy']:.4f} (>= 0.85) | Star/Artifact recall {r['recall']['Star/Artifact']:.4f} "
              f"(>= 0.95) | ECE {r['ece']:.4f} (<= 0.05; 2-fold cross-fitted {r['ece_cross_fitted']:.4f}; "
              f"T=1: {r['ece_uncalibrated']:.4f}) | T {r['temperature']:.3f}")
    print(f"default mode: {mode}")
    print("per class (precision / recall):")
    for c in CLASS_NAMES:
        print(f"  {c:14s} {out[mode]['precision'][c]:.3f} / {out[mode]['recall'][c]:.3f}  "
              f"(n={int(np.sum(labels == CLASS_INDEX[c]))})")
    print("confusion (rows true, cols predicted):")
    for c, row in zip(CLASS_NAMES, out[mode]["confusion"], strict=True):
        print(f"  {c:14s} {row}")


def print_checks(out: dict, engine: str) -> None:
    """The other checks: by source, gz2 two-way, framing, grey galaxies, throughput, ablation."""
    print("accuracy by source:", json.dumps(out["by_source"]))
    print(f"gz2_spiral two-way accuracy, validation split {out['gz2_two_way']['accuracy']:.4f} (>= 0.90) "
          f"{json.dumps(out['gz2_two_way'])}; whole set {json.dumps(out['gz2_two_way_all'])}")
    print(f"framing consistency x1.5 vs x3: {out['framing_consistency']['all']:.4f} (>= 0.90), "
          f"galaxies only {out['framing_consistency']['galaxies']:.4f}")
    print(f"greyscaled val galaxies: {json.dumps(out['greyscaled_val_galaxies'])}")
    print(f"grey ground-based galaxies (val): {json.dumps(out['grey_ground_based_galaxies_val'])}")
    print(f"throughput ({out['threads']} threads, no TTA): {out['crops_per_s']:.1f} crops/s (>= 100) for box x3 "
          f"crops (median side {out['crop_side_px_median']:.0f} px; framing + network), "
          f"{out['crops_per_s_network_only']:.1f} crops/s already framed (network only); "
          f"{out['crops_per_s_tta']:.1f} crops/s with TTA (framing + network); "
          f"engine {engine}; {out['other_backend']}: {out['crops_per_s_other_backend']:.1f} crops/s "
          f"(framing + network)")
    if "ablation" in out:
        print("augmentation ablation:", json.dumps(out["ablation"]))


def partial_checks(clf: Classifier, args: argparse.Namespace, recipe: dict, framed_val: np.ndarray,
                   labels: np.ndarray, pred: np.ndarray, use_tta: bool) -> dict:
    """The grey-galaxy and gz2 two-way checks, keyed as in the JSON."""
    split_seed = int(recipe["split_seed"])
    out = {"greyscaled_val_galaxies": greyscaled_galaxies(clf, framed_val, labels, pred, use_tta),
           "grey_ground_based_galaxies_val": grey_ground_based(clf, args.data, split_seed, args.limit, use_tta)}
    out["gz2_two_way"], out["gz2_two_way_all"] = gz2_two_way_checks(clf, args.data, split_seed, args.limit,
                                                                    use_tta)
    out["gz2_two_way_all"]["train_split_trained_on"] = trained_on_gz2(recipe)
    return out


def main(argv=None) -> int:
    """Measure everything, print the report, write the JSON and Markdown when asked."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    clf = Classifier.load(args.weights)
    recipe = clf.recipe
    fig_dir = Path(args.figures) if args.figures else None
    if fig_dir:
        fig_dir.mkdir(parents=True, exist_ok=True)
    out: dict = {"weights": str(clf.path), "threads": args.threads}
    print(f"classifier: {clf!r}")
    val, images = validation_images(args.data, int(recipe["split_seed"]), args.limit)
    labels = val["y"].to_numpy()
    crops3 = [reframe(im, 3.0) for im in images]  # the app's crops: a square of 3x the object's box
    out.update(throughput(clf, crops3))
    framed_val = np.stack([clf.frame(im) for im in images])  # the framing predict() applies
    results = evaluate_modes(clf, framed_val, labels)
    use_tta = record_modes(results, out)
    mode = out["default_mode"]
    m, probs, z = results[mode]
    if args.update_checkpoint:
        clf = update_checkpoint(clf, results, use_tta, out)
    pred = probs.argmax(axis=1)
    out["by_source"] = accuracy_by_source(val, pred, labels)
    out.update(partial_checks(clf, args, recipe, framed_val, labels, pred, use_tta))
    out["framing_consistency"] = framing_consistency(clf, images, crops3, labels, use_tta)
    if fig_dir:
        write_figures(fig_dir, m, probs, z, labels, mode)
    if args.ablation:
        out["ablation"] = ablation(args.ablation, fig_dir)
    print_validation(out, labels, mode)
    print_checks(out, clf.backend)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown_tables(out, mode))
    return 0


def markdown_tables(out: dict, mode: str) -> str:
    """The measured figures as Markdown tables, for the model card."""
    lines = ["| figure | no TTA | TTA | target |", "|---|---|---|---|"]
    rows = [("accuracy", "accuracy", ">= 0.90"), ("balanced accuracy", "balanced_accuracy", ">= 0.85"),
            ("ECE (T fitted on val)", "ece", "<= 0.05"), ("ECE (2-fold cross-fitted T)", "ece_cross_fitted", "<= 0.05"),
            ("ECE at T = 1", "ece_uncalibrated", ""), ("temperature", "temperature", "")]
    for name, key, target in rows:
        lines.append(f"| {name} | {out['no TTA'][key]:.4f} | {out['TTA'][key]:.4f} | {target} |")
    lines.append(f"| Star/Artifact recall | {out['no TTA']['recall']['Star/Artifact']:.4f} | "
                 f"{out['TTA']['recall']['Star/Artifact']:.4f} | >= 0.95 |")
    lines += ["", f"Per class ({mode}):", "", "| class | n | precision | recall |", "|---|---|---|---|"]
    cm = np.array(out[mode]["confusion"])
    for i, c in enumerate(CLASS_NAMES):
        lines.append(f"| {c} | {cm[i].sum()} | {out[mode]['precision'][c]:.3f} | {out[mode]['recall'][c]:.3f} |")
    lines += ["", "| check | result | target |", "|---|---|---|",
              f"| gz2_spiral two-way accuracy, validation split (n={out['gz2_two_way']['n']}) | "
              f"{out['gz2_two_way']['accuracy']:.4f} (spiral recall {out['gz2_two_way']['spiral_recall']:.3f}, "
              f"non-spiral {out['gz2_two_way']['non_spiral_recall']:.3f}) | >= 0.90 |",
              f"| gz2_spiral two-way accuracy, whole set (n={out['gz2_two_way_all']['n']}; training split "
              f"{'trained on' if out['gz2_two_way_all']['train_split_trained_on'] else 'not trained on'}) | "
              f"{out['gz2_two_way_all']['accuracy']:.4f} | |",
              f"| same class at box x1.5 and x3 (n={out['framing_consistency']['n']}) | "
              f"{out['framing_consistency']['all']:.4f} (galaxies only {out['framing_consistency']['galaxies']:.4f}) | >= 0.90 |",
              f"| throughput, {out['threads']} threads, no TTA: box x3 crops (median {out['crop_side_px_median']:.0f} px), "
              f"framing + network / framed crops, network only | {out['crops_per_s']:.1f} / "
              f"{out['crops_per_s_network_only']:.1f} crops/s ({out['crops_per_s_tta']:.1f} with TTA, framing + network; "
              f"engine {out['backend']}, {out['other_backend']} {out['crops_per_s_other_backend']:.1f}) | >= 100 |",
              f"| greyscaled val galaxies (n={out['greyscaled_val_galaxies']['n']}): accuracy / called Star | "
              f"{out['greyscaled_val_galaxies']['accuracy']:.4f} / {out['greyscaled_val_galaxies']['called_star']:.4f} "
              f"(colour accuracy {out['greyscaled_val_galaxies']['accuracy_colour']:.4f}) | |",
              f"| grey ground-based galaxies, val (n={out['grey_ground_based_galaxies_val']['n']}): called Star | "
              f"{out['grey_ground_based_galaxies_val']['called_star']:.4f} | |"]
    lines += ["", "| source | n | accuracy |", "|---|---|---|"]
    lines += [f"| {k} | {v['n']} | {v['accuracy']:.4f} |" for k, v in out["by_source"].items()]
    if "ablation" in out:
        lines += ["", "| run | epochs | final val accuracy | final val balanced accuracy | best val accuracy |",
                  "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['epochs']} | {v['final_val_acc']:.4f} | {v['final_val_bal_acc']:.4f} | "
                  f"{v['best_val_acc']:.4f} |" for k, v in out["ablation"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
