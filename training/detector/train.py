"""Train the YOLO galaxy detector offline: ``python -m training.detector.train``.

Builds (or reuses) the synthetic-scene dataset of :mod:`training.detector.scenes`
under ``cache/detector/``, then trains an ultralytics YOLO model built from its
packaged yaml (nothing is downloaded: no pretrained weights, no AMP check, no
fonts for plots), with a fixed seed: on the CPU with ``workers=0``, or on a GPU
with ``--device 0 --workers N`` (``scripts/train_detector_gpu.sh``).  The best
checkpoint is copied to ``--weights-out`` and a JSON record (command, seed,
duration, final metrics) is written beside the run.

Example (the shipped model's command is in weights/MODEL_CARD.md)::

    OMP_NUM_THREADS=1 python -m training.detector.train --n-train 2400 --n-val 200 \\
        --model yolov8n.yaml --hours 1.0 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from galaxy_core.errors import GalaxyCoreError
from training.detector.scenes import (
    CACHE_DIR,
    DATA_DIR,
    RECIPES,
    build_library,
    combine_datasets,
    dataset_recipe,
    write_dataset,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def offline_env(config_dir: Path = REPO_ROOT / ".yolo_config") -> None:
    """Keep ultralytics offline and its settings inside the project (call before importing it)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    config_dir.mkdir(parents=True, exist_ok=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.detector.train",
                                description="Train the YOLO galaxy detector on synthetic scenes.")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the real data (../shared/data)")
    p.add_argument("--dataset", type=Path, default=CACHE_DIR / "dataset",
                   help="where the YOLO dataset is written (reused when its data.yaml exists)")
    p.add_argument("--library", type=Path, default=CACHE_DIR / "library.npz",
                   help="cache of the real cutouts")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="standard",
                   help="scene recipe of a newly built dataset (scene_synth.RECIPES)")
    p.add_argument("--also", type=Path, action="append", default=[],
                   help="also train and validate on this existing dataset folder (repeatable)")
    p.add_argument("--n-train", type=int, default=2400, help="training scenes")
    p.add_argument("--n-val", type=int, default=200, help="validation scenes (held-out cutouts)")
    p.add_argument("--size", type=int, default=320, help="scene side (px)")
    p.add_argument("--model", default="yolov8n.yaml", help="ultralytics model yaml (no weights)")
    p.add_argument("--init", default=None,
                   help="start from this trained checkpoint (fine-tune) instead of random weights")
    p.add_argument("--transfer", default=None,
                   help="build --model and copy into it every layer of this checkpoint that "
                        "matches by name and shape (another architecture, e.g. a P2 head)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hours", type=float, default=None,
                   help="training time budget (ultralytics `time`, overrides --epochs)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--lr0", type=float, default=0.002, help="peak AdamW learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="cpu, or a CUDA device index such as 0")
    p.add_argument("--workers", type=int, default=0,
                   help="data-loading processes (0 on the CPU; about 6 per model on a GPU machine)")
    p.add_argument("--cache-images", action="store_true",
                   help="hold the decoded training images in memory (ultralytics cache='ram')")
    p.add_argument("--build-only", action="store_true",
                   help="write the dataset (if missing) and stop before training")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes that write a new dataset (>1: one random stream per 100 scenes)")
    p.add_argument("--project", type=Path, default=CACHE_DIR / "runs")
    p.add_argument("--name", default="detector")
    p.add_argument("--weights-out", default=str(REPO_ROOT / "weights" / "detector.pt"),
                   help="where the best checkpoint is copied ('' to skip)")
    p.add_argument("--no-onnx", action="store_true",
                   help="do not export the copied checkpoint to ONNX beside it")
    args = p.parse_args(argv)
    shown = sys.argv[1:] if argv is None else argv
    args.command = " ".join(["python -m training.detector.train", *map(str, shown)])
    return args


def _results_csv_without_polars() -> None:
    """Let the trainer save checkpoints where polars is missing (a bare GPU machine).

    ultralytics reads its results.csv back with polars only to store the
    history in each checkpoint; without polars that import fails at the first
    save.  There the history is read with the standard csv module instead.
    """
    import importlib.util

    if importlib.util.find_spec("polars") is not None:
        return
    import csv

    from ultralytics.engine.trainer import BaseTrainer

    def read_results_csv(self) -> dict:
        try:
            rows = list(csv.DictReader(self.csv.read_text().splitlines()))
        except OSError:
            return {}
        return {k.strip(): [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}

    BaseTrainer.read_results_csv = read_results_csv


def build_model(args: argparse.Namespace):
    """The ultralytics model training starts from: --init, --model with --transfer, or --model."""
    from ultralytics import YOLO

    if args.init and args.transfer:
        raise GalaxyCoreError("--init and --transfer exclude each other.")
    # YOLO(checkpoint) carries its weights into the trainer; YOLO(yaml) starts from random.
    model = YOLO(args.init) if args.init else YOLO(args.model)
    if args.transfer:
        model.load(args.transfer)  # matching layers; the trainer then starts from this model
    return model


def check_dataset_recipe(args: argparse.Namespace, yaml: Path) -> None:
    """Refuse an existing dataset built with another recipe than ``--recipe``."""
    recipe = RECIPES[args.recipe]
    built = dataset_recipe(args.dataset) if yaml.exists() else recipe
    if built != recipe:
        raise GalaxyCoreError(f"{args.dataset} was built with {built}, not --recipe {args.recipe}; "
                              "pick another --dataset folder to build a new one.")


def build_dataset(args: argparse.Namespace) -> None:
    """Cut the real objects (or load them from ``--library``) and write the synthetic-scene dataset."""
    lib = build_library(args.data_dir, cache=args.library.resolve())
    print(lib, flush=True)
    write_dataset(args.dataset, lib, n_train=args.n_train, n_val=args.n_val, size=args.size,
                  seed=args.seed, recipe=RECIPES[args.recipe], jobs=args.jobs)


def ultralytics_model(args: argparse.Namespace):
    """Import ultralytics (its side effects undone, its history read without polars) and build the model."""
    import ultralytics  # noqa: F401  (importing it changes logging; undone next)

    from galaxy_core.detection.yolo import undo_ultralytics_side_effects

    undo_ultralytics_side_effects()
    _results_csv_without_polars()
    return build_model(args)


def train_options(args: argparse.Namespace, yaml: Path) -> dict:
    """The ultralytics ``train`` settings: the recipe, augmentations and the fine-tuning options."""
    options = dict(
        data=str(yaml), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
        workers=args.workers,
        device=args.device, seed=args.seed, deterministic=True, amp=False, plots=False,
        project=str(args.project.resolve()), name=args.name, exist_ok=True, pretrained=False,
        optimizer="AdamW", lr0=args.lr0, cos_lr=True, close_mosaic=max(1, args.epochs // 5),
        fliplr=0.5, flipud=0.5, degrees=0.0, mosaic=1.0, scale=0.5, hsv_h=0.3, hsv_s=0.7,
        hsv_v=0.4, verbose=True, val=True, cache="ram" if args.cache_images else False,
    )
    if args.init:  # pretrained=False would make ultralytics rebuild random weights
        options.update(pretrained=str(Path(args.init).resolve()), warmup_epochs=0.5)
    if args.transfer:
        options.update(pretrained=True)
    if args.hours:
        options["time"] = args.hours
    return options


def run_record(args: argparse.Namespace, model, best: Path, t_data: float, t_train: float) -> dict:
    """The run's record: command, settings, durations, the trainer's final metrics, the best checkpoint."""
    metrics = {}
    trainer = getattr(model, "trainer", None)
    if trainer is not None and getattr(trainer, "metrics", None):
        metrics = {k: float(v) for k, v in trainer.metrics.items()}
    return dict(command=args.command,
                seed=args.seed, model=args.model, init=args.init, transfer=args.transfer,
                imgsz=args.imgsz, device=args.device, batch=args.batch,
                lr0=args.lr0, recipe=args.recipe, also=[str(a) for a in args.also],
                n_train=args.n_train, n_val=args.n_val, dataset_seconds=round(t_data, 1),
                train_seconds=round(t_train, 1), threads=args.threads, metrics=metrics,
                best=str(best))


def publish_weights(args: argparse.Namespace, best: Path, record: dict) -> None:
    """Copy ``best`` to ``--weights-out`` and, unless ``--no-onnx``, export it to ONNX (noted in ``record``)."""
    if args.weights_out and best.exists():
        out = Path(args.weights_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, out)
        if not args.no_onnx:
            from galaxy_core.detection.yolo import export_onnx

            record["onnx"] = str(export_onnx(out))


def train(args: argparse.Namespace) -> dict:
    """Build or reuse the dataset, train, copy the best weights; returns the run record."""
    offline_env()
    import torch

    torch.set_num_threads(args.threads)
    yaml = args.dataset.resolve() / "data.yaml"
    check_dataset_recipe(args, yaml)
    t0 = time.time()
    if not yaml.exists():
        build_dataset(args)
    if args.build_only:
        return dict(dataset=str(yaml), dataset_seconds=round(time.time() - t0, 1))
    if args.also:
        yaml = combine_datasets(args.dataset.resolve() / "combined.yaml", [args.dataset, *args.also])
    t_data = time.time() - t0
    model = ultralytics_model(args)
    options = train_options(args, yaml)
    t1 = time.time()
    model.train(**options)
    t_train = time.time() - t1
    run_dir = args.project.resolve() / args.name
    best = run_dir / "weights" / "best.pt"
    record = run_record(args, model, best, t_data, t_train)
    (run_dir / "record.json").write_text(json.dumps(record, indent=2))  # before the ONNX export
    publish_weights(args, best, record)
    print(json.dumps(record, indent=2), flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    try:
        train(parse_args(argv))
    except GalaxyCoreError as err:
        raise SystemExit(f"error: {err}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
