"""Average the weights of classifier checkpoints from one training lineage (a "model soup").

``python -m training.classifier.soups A.pt B.pt [C.pt ...] --out weights/classifier.pt``

Checkpoints fine-tuned from one another lie in one basin of the loss, so the
mean of their weights is itself a good network, often better than each of them
(Wortsman et al. 2022, "Model soups").  It costs nothing at inference, unlike an
ensemble.  Batch-norm running statistics are averaged like the weights: they
were gathered under the class-balanced sampler, and re-estimating them on the
unbalanced training split made the soup worse (measured in the model card).

The inputs must agree on everything inference uses (architecture, classes,
input size, normalisation, framing).  The output keeps those, records the
inputs and their recipes, and carries no temperatures: fit them with
``bench/bench_classifier.py --update-checkpoint``.  ``--input-size`` lets
checkpoints trained at different input sizes be averaged: ResNet18 ends in a
global pool, so its weights run at any size, and the output runs at the one
given (the model card's stage 9 measures what that costs).
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.checkpoint import INFERENCE_FIELDS, ClassifierCheckpoint


def average_state_dicts(states: Sequence[dict]) -> dict:
    """Element-wise mean of float tensors (computed in float32, stored in the first input's dtype).

    Integer tensors (batch-norm step counters) are taken from the first input.
    """
    if not states:
        raise GalaxyCoreError("Nothing to average: give at least one checkpoint.")
    keys = list(states[0])
    for i, s in enumerate(states[1:], start=2):
        if list(s) != keys:
            raise GalaxyCoreError(f"Checkpoint {i} has other layers than checkpoint 1.")
    out = {}
    for k in keys:
        first = states[0][k]
        if any(s[k].shape != first.shape for s in states):
            raise GalaxyCoreError(f"Layer {k} has different shapes in the checkpoints.")
        if first.is_floating_point():
            out[k] = (sum(s[k].float() for s in states) / len(states)).to(first.dtype)
        else:
            out[k] = first.clone()
    return out


def average_checkpoints(ckpts: Sequence[ClassifierCheckpoint], names: Sequence[str], *,
                        input_size: int | None = None) -> ClassifierCheckpoint:
    """One checkpoint whose weights are the mean of ``ckpts`` (``names`` label them in the recipe).

    ``input_size`` (px) sets the output's network input side; the inputs may
    then differ in theirs.
    """
    if not ckpts:
        raise GalaxyCoreError("Nothing to average: give at least one checkpoint.")
    if input_size is not None and input_size < 32:
        raise GalaxyCoreError(f"The input size must be at least 32 px, got {input_size}.")
    for field in INFERENCE_FIELDS:
        if field == "input_size" and input_size is not None:
            continue
        values = [getattr(c, field) for c in ckpts]
        if any(v != values[0] for v in values[1:]):
            raise GalaxyCoreError(f"The checkpoints differ in {field!r}: {values}")
    first = ckpts[0]
    recipe = {
        "average_of": list(names),
        "split_seed": first.recipe["split_seed"],
        "inputs": [{"name": n, "recipe": c.recipe, "epoch": c.metrics.get("epoch"),
                    "input_size": c.input_size}
                   for n, c in zip(names, ckpts, strict=True)],
        "torch": str(torch.__version__),
    }
    return ClassifierCheckpoint(
        state_dict=average_state_dicts([c.state_dict for c in ckpts]), class_names=first.class_names,
        input_size=int(input_size) if input_size is not None else first.input_size, mean=first.mean,
        std=first.std, framing=first.framing, arch=first.arch, tta=first.tta, recipe=recipe)


def sha1_of(path: Path) -> str:
    """The SHA-1 of a file, to name an input checkpoint exactly."""
    return hashlib.sha1(path.read_bytes()).hexdigest()


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+", type=Path, help="classifier checkpoints of one lineage")
    p.add_argument("--out", type=Path, required=True, help="where to write the averaged checkpoint")
    p.add_argument("--input-size", type=int, default=None,
                   help="network input side of the output, px (lets inputs of other sizes be averaged)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        ckpts = [checkpoint.read(p) for p in args.inputs]
        names = [f"{p.name} (sha1 {sha1_of(p)[:12]})" for p in args.inputs]
        soup = average_checkpoints(ckpts, names, input_size=args.input_size)
    except (GalaxyCoreError, OSError, RuntimeError, KeyError) as exc:
        print(f"error: {exc}")
        return 2
    checkpoint.write(soup, args.out)
    print(f"wrote {args.out}: the mean of {len(ckpts)} checkpoints: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
