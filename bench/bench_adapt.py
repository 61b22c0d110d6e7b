"""Simulated users teaching the classifier their galaxies: how much does adapting help, and at what cost?

    python bench/bench_adapt.py --data ../shared/data --labels 25 50 100 200 --repeats 3 --threads 2

The new domain: half of the labelled validation galaxies (by a salted hash of
their name; stars left out) seen as distant, noisy Hubble-like galaxies
(``training/classifier/distant.py: shrink``): each shrunk until it spans a
size log-uniform in 10-20 px through a Gaussian PSF of FWHM 1.6 px, with sky
noise at a peak S/N log-uniform in 5-20, then framed as ``classify`` frames a
cutout.  The network never trained on these galaxies, in any view.  ``--hubble-stretch``
makes a second domain, one the training augmentations do not cover: larger (16-32 px),
less noisy (S/N 10-40) galaxies shown in another rendering (:func:`hubble_stretch`: sky
subtracted, an asinh stretch that lifts faint light, a bluer colour balance).

A simulated user labels N of them at random and adapts (:func:`galaxy_core.morphology.adapt.fit_adapted`,
the same code as ``python -m galaxy_core adapt``, on features computed once for the
whole domain).  Printed per N, mean and spread over ``--repeats`` draws:

* the cross-validated accuracy on the N labels, before and after (what the user is shown);
* the accuracy on the rest of the domain (never labelled), before and after: the real gain;
* the change on the original validation items outside the domain (the other half of the
  galaxies, and every star): what it forgot; and on the whole validation split, as shown.

Then the time and peak memory (RSS) of ``python -m galaxy_core adapt`` on ``--time-labels``
cutout files as a subprocess, beside the time of ``classify`` on the same files in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from galaxy_core import shipped  # noqa: E402
from galaxy_core.morphology import checkpoint  # noqa: E402
from galaxy_core.morphology.adapt import (  # noqa: E402
    AdaptSettings,
    Head,
    crop_features,
    fit_adapted,
)
from galaxy_core.morphology.classifier import Classifier  # noqa: E402
from galaxy_core.morphology.labelled import LabelledCrops  # noqa: E402
from galaxy_core.morphology.replay import body_sha256, load_replay  # noqa: E402
from galaxy_core.types import CLASS_INDEX, CLASS_NAMES  # noqa: E402
from training.classifier.distant import shrink  # noqa: E402

STAR = CLASS_INDEX["Star/Artifact"]
SIZE_PX, SNR, PSF_FWHM_PX = (10.0, 20.0), (5.0, 20.0), 1.6


def validation_items(data: str, cache_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 (N, 128, 128, 3) framed images, labels, names) of the validation split, in split order."""
    from galaxy_core.morphology.framing import FramingSettings
    from training.classifier.train import framed_sets, get_args_parser

    args = get_args_parser().parse_args(["--data", data, "--size", "64", "--cache-size", "128",
                                         "--cache-dir", cache_dir])
    items, images = framed_sets(args, FramingSettings(), log=lambda *_: None)
    val = np.flatnonzero(items["split"].to_numpy() == "val")
    return np.asarray(images[val]), items["y"].to_numpy()[val].astype(int), items["name"].to_numpy()[val]


def in_domain(names: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """bool: the galaxies of the new domain (half of them, by a salted SHA-1 of the name)."""
    half = np.array([int(hashlib.sha1(f"adapt-bench:{n}".encode()).hexdigest()[:8], 16) % 2 for n in names])
    return (half == 0) & (labels != STAR)


def distant_views(images: np.ndarray, fill: float, *, size_px=SIZE_PX, snr=SNR, restretch: bool = False,
                   seed: int = 1) -> list[np.ndarray]:
    """Each image's galaxy shrunk to a random size and S/N in the ranges (see the module
    docstring), re-rendered by :func:`hubble_stretch` when ``restretch``: uint8 small images."""
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(*np.log(size_px), len(images)))
    snrs = np.exp(rng.uniform(*np.log(snr), len(images)))
    nominal = fill * images.shape[1]
    small = [shrink(im, s / nominal, psf_fwhm_px=PSF_FWHM_PX, snr=r, seed=i)
             for i, (im, s, r) in enumerate(zip(images, sizes, snrs, strict=True))]
    return [hubble_stretch(s) for s in small] if restretch else small


def hubble_stretch(image: np.ndarray) -> np.ndarray:
    """A uint8 SDSS-like picture re-rendered: linearised (gamma 2.2), border sky subtracted,
    asinh-stretched (softening 0.01 of white) and given a bluer colour balance (0.85, 1, 1.25)."""
    x = (image.astype(np.float32) / 255.0) ** 2.2
    border = np.concatenate([x[:3].reshape(-1, 3), x[-3:].reshape(-1, 3)])
    lin = np.clip(x - np.median(border, axis=0), 0, None)
    y = np.arcsinh(lin / 0.01) / np.arcsinh(1 / 0.01) * np.array([0.85, 1.0, 1.25])
    return np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)


def simulated_user(ckpt, crops: LabelledCrops, feats, replay, forget: np.ndarray, n: int, rep: int,
                   settings: AdaptSettings) -> dict:
    """One user labelling ``n`` random objects of the domain: the figures of the module docstring."""
    rng = np.random.default_rng(1000 * n + rep)
    order = rng.permutation(len(crops))
    mine, rest = np.sort(order[:n]), order[n:]
    user = LabelledCrops(crops.crops[mine], crops.labels[mine], tuple(crops.keys[i] for i in mine),
                         crops.base_probs[mine])
    result = fit_adapted(ckpt, shipped.CLASSIFIER_WEIGHTS, user, feats.subset(mine), replay,
                         settings)
    base, new = Head.of(ckpt.state_dict), Head.of(result.checkpoint.state_dict)

    def acc(head: Head, f: np.ndarray, y: np.ndarray) -> float:
        return float((head.logits(f).argmax(1) == y).mean())

    y_rest, f_rest = crops.labels[rest], feats.plain[rest]
    fv, yv = replay.val_features[forget], replay.val_labels[forget]
    return {"n": n, "rep": rep, "cv_before": result.cv_before.accuracy, "cv_after": result.cv_after.accuracy,
            "rest_before": acc(base, f_rest, y_rest), "rest_after": acc(new, f_rest, y_rest),
            "rest_n": int(len(rest)), "forget_before": acc(base, fv, yv), "forget_after": acc(new, fv, yv),
            "val_before": result.val_before.accuracy, "val_after": result.val_after.accuracy,
            "rest_recall_before": _recalls(base.logits(f_rest), y_rest),
            "rest_recall_after": _recalls(new.logits(f_rest), y_rest), "_result": result, "_rest": rest,
            "rest_bal_before": float(np.mean(list(_recalls(base.logits(f_rest), y_rest).values()))),
            "rest_bal_after": float(np.mean(list(_recalls(new.logits(f_rest), y_rest).values())))}


def _recalls(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = logits.argmax(1)
    return {c: float((pred[y == i] == i).mean()) for i, c in enumerate(CLASS_NAMES) if (y == i).any()}


def print_rows(rows: list[dict]) -> dict:
    """Mean (and spread) per N of each figure; the table printed."""
    print(f"{'N':>4s} {'CV on labels':>17s} {'rest of domain':>32s} {'balanced':>16s} "
          f"{'forgot (other val)':>19s} {'whole val':>10s}")
    summary = {}
    for n in sorted({r["n"] for r in rows}):
        rs = [r for r in rows if r["n"] == n]
        m = {k: float(np.mean([r[k] for r in rs])) for k in rs[0] if not k.startswith("_")
             and isinstance(rs[0][k], float)}
        gain = [r["rest_after"] - r["rest_before"] for r in rs]
        m["rest_gain_sd"] = float(np.std(gain))
        summary[n] = m
        print(f"{n:4d} {m['cv_before']:.3f} -> {m['cv_after']:.3f} "
              f"{m['rest_before']:.3f} -> {m['rest_after']:.3f} ({np.mean(gain):+.3f} sd {np.std(gain):.3f}) "
              f"{m['rest_bal_before']:.3f} -> {m['rest_bal_after']:.3f} "
              f"{m['forget_after'] - m['forget_before']:+19.3f} {m['val_after'] - m['val_before']:+10.3f}")
    return summary


def timed_command(argv: list[str]) -> tuple[float, float, str]:
    """(wall s, peak RSS MB, stdout) of ``python -m galaxy_core ARGV`` run as a fresh process."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
             "p.returncode); sys.stderr.write(p.stdout + p.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "galaxy_core", *argv],
                          capture_output=True, text=True, cwd=ROOT)
    seconds, rss, status = done.stdout.split()
    if status != "0":
        raise SystemExit(f"{argv[0]} failed: {done.stderr[-2000:]}")
    return float(seconds), float(rss), done.stderr


def time_cli(small: list[np.ndarray], labels: np.ndarray, n: int, threads: int) -> dict:
    """Time and peak RSS of ``adapt`` on ``n`` cutout files, and of ``classify`` on the same files."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n):
            paths.append(Path(tmp) / f"g{i:04d}.png")
            Image.fromarray(small[i]).save(paths[-1])
        table = Path(tmp) / "labels.csv"
        table.write_text("path,label\n" + "".join(f"{p.name},{CLASS_NAMES[y]}\n"
                                                  for p, y in zip(paths, labels[:n], strict=True)))
        adapt_s, adapt_mb, out = timed_command(["adapt", str(table), "--out", str(Path(tmp) / "a.pt"),
                                                "--threads", str(threads)])
        classify_s, classify_mb, _ = timed_command(["classify", *map(str, paths)])
    inside = re.search(r"labels in (\d+) s", out)  # adapt() alone: no start-up, reading or saving
    return {"labels": n, "adapt_s": adapt_s, "adapt_peak_rss_mb": adapt_mb, "classify_s": classify_s,
            "classify_peak_rss_mb": classify_mb, "ratio": adapt_s / classify_s,
            "adapt_function_s": float(inside.group(1)) if inside else None}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the shared data folder")
    p.add_argument("--cache-dir", default="cache", help="the training's framed-image cache")
    p.add_argument("--labels", type=int, nargs="+", default=[25, 50, 100, 200])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--augment-views", type=int, default=AdaptSettings().augment_views)
    p.add_argument("--prior", type=float, default=AdaptSettings().prior)
    p.add_argument("--user-weight", type=float, default=AdaptSettings().user_weight)
    p.add_argument("--balanced", action="store_true", help="weigh the user's classes equally")
    p.add_argument("--time-labels", type=int, default=200, help="labels for the CLI timing (0: none)")
    p.add_argument("--time-only", action="store_true", help="only the CLI timing (no simulated users)")
    p.add_argument("--hubble-stretch", action="store_true",
                   help="the second domain: 16-32 px, S/N 10-40, re-rendered (hubble_stretch)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    settings = AdaptSettings(augment_views=args.augment_views, prior=args.prior,
                             user_weight=args.user_weight, threads=args.threads, balanced=args.balanced)
    ckpt = checkpoint.read(shipped.CLASSIFIER_WEIGHTS)
    replay = load_replay(body=body_sha256(ckpt.state_dict))
    images, labels, names = validation_items(args.data, args.cache_dir)
    if not np.array_equal(labels, replay.val_labels):
        raise SystemExit("the replay file's validation split differs from this data's")
    dom = in_domain(names, labels)
    forget = np.flatnonzero(~dom)  # the other half of the galaxies, and every star
    small, crops = make_domain(ckpt, images[dom], labels[dom], names[dom], args.hubble_stretch)
    print(f"domain: {len(crops)} galaxies {np.bincount(crops.labels, minlength=6).tolist()}; "
          f"forgetting measured on {len(forget)} other validation items; settings {settings}")
    out = {"settings": vars(args), "domain_n": len(crops)}
    if not args.time_only:
        out.update(simulated_users(ckpt, crops, replay, forget, args, settings))
    if args.time_labels:
        out["timing"] = time_cli(small, crops.labels, args.time_labels, args.threads)
        print(json.dumps(out["timing"]))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


def make_domain(ckpt, images: np.ndarray, labels: np.ndarray, names: np.ndarray,
                restretch: bool) -> tuple[list[np.ndarray], LabelledCrops]:
    """The domain's small pictures (what a user's cutout files hold) and their framed crops."""
    clf = Classifier.from_checkpoint(ckpt, backend="torch")
    small = (distant_views(images, ckpt.framing.fill, size_px=(16.0, 32.0), snr=(10.0, 40.0),
                           restretch=True) if restretch else distant_views(images, ckpt.framing.fill))
    crops = LabelledCrops(np.stack([clf.frame(s) for s in small]), labels, tuple(names),
                          np.full((len(labels), len(CLASS_NAMES)), np.nan))
    return small, crops


def simulated_users(ckpt, crops: LabelledCrops, replay, forget: np.ndarray, args,
                    settings: AdaptSettings) -> dict:
    """The domain's features once, then every simulated user: summary, rows, an end-to-end check."""
    t0 = time.perf_counter()
    feats = crop_features(ckpt, crops.crops, augment_views=settings.augment_views, seed=settings.seed,
                          threads=settings.threads)
    print(f"domain features: {time.perf_counter() - t0:.0f} s")
    rows = [simulated_user(ckpt, crops, feats, replay, forget, n, rep, settings)
            for n in args.labels for rep in range(args.repeats)]
    return {"summary": print_rows(rows), "end_to_end": end_to_end(rows, crops, args.labels),
            "rows": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]}


def end_to_end(rows: list[dict], crops: LabelledCrops, sizes: list[int]) -> dict:
    """One adapted checkpoint through :class:`Classifier` on its user's rest of the domain
    (the same figure as from the features, up to the engine's rounding)."""
    row = next(r for r in rows if r["n"] == (100 if 100 in sizes else sizes[0]))
    clf = Classifier.from_checkpoint(row["_result"].checkpoint)
    rest = row["_rest"]
    acc = float((clf.predict(crops.crops[rest], tta=False, framed=True).argmax(1)
                 == crops.labels[rest]).mean())
    print(f"end to end (N = {row['n']}, {clf.backend}): rest of domain {acc:.3f} "
          f"(from features {row['rest_after']:.3f})")
    return {"n": row["n"], "classifier": acc, "features": row["rest_after"]}


if __name__ == "__main__":
    main()
