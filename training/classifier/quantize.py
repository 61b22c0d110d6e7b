"""Quantise the classifier's network to int8 for the pipeline's cheaper path, and measure it.

    python -m training.classifier.quantize --data ../shared/data

Exports the weights' network to ONNX, calibrates its activations on framed crops
of the training split (never the validation split) and quantises it statically
(ONNX Runtime, QOperator format, int8 weights per channel, uint8 activations).
Then, on the validation split, it prints the accuracy of the float and the int8
networks, how often their top classes agree (at full size, and for galaxies
shrunk to 8, 12 and 16 px through a 1.6 px PSF, the sizes the int8 path
serves) and crops per second of each, measured in one run.  The file is written
beside the weights (:func:`galaxy_core.morphology.int8.int8_path`) with the
SHA-256 of the weights it was made from.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from galaxy_core import shipped
from galaxy_core.morphology.calibration import softmax
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import FramingSettings
from galaxy_core.morphology.int8 import Int8Network, int8_path
from galaxy_core.morphology.onnx_network import SOURCE_KEY, export_bytes, file_sha256
from training.classifier.distant import shrink
from training.classifier.train import framed_sets, get_args_parser, validation_sets

#: Framed training crops the activations are calibrated on.
CALIBRATION_CROPS = 512


def train_crops(data: str, clf: Classifier, n: int, seed: int = 0) -> np.ndarray:
    """``n`` framed crops (uint8, the network's input size) of the training split."""
    args = get_args_parser().parse_args(["--data", data, "--size", "64", "--cache-size", "128"])
    items, images = framed_sets(args, FramingSettings(), log=lambda *_: None)
    train = np.flatnonzero(((items["split"] == "train") & (items["set"] == "labelled")).to_numpy())
    chosen = np.random.default_rng(seed).choice(train, min(n, len(train)), replace=False)
    return np.stack([clf.frame(np.asarray(images[i])) for i in chosen])


def quantise(clf: Classifier, calibration: np.ndarray, out: Path) -> Path:
    """Write the int8 network of ``clf`` calibrated on ``calibration`` crops to ``out``."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    mean, std = clf._mean, clf._std
    batches = [((c.transpose(0, 3, 1, 2) / np.float32(255)) - mean) / std
               for c in np.array_split(calibration, max(1, len(calibration) // 32))]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"x": np.ascontiguousarray(x, dtype=np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        plain, pre, quant = (Path(tmp) / n for n in ("f.onnx", "pre.onnx", "q.onnx"))
        plain.write_bytes(export_bytes(clf.model, (3, clf.input_size, clf.input_size)))
        quant_pre_process(str(plain), str(pre))
        quantize_static(str(pre), str(quant), Reader(), quant_format=QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        model = onnx.load(str(quant))
    entry = model.metadata_props.add()
    entry.key, entry.value = SOURCE_KEY, file_sha256(clf.path)
    onnx.save(model, str(out))
    return out


def compare(clf: Classifier, net: Int8Network, crops: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of both networks, their top-class agreement and crops per second of each."""
    framed = np.stack([clf.frame(c) for c in crops])
    t0 = time.perf_counter()
    p32 = clf.predict(framed, tta=False, framed=True)
    t1 = time.perf_counter()
    p8 = softmax(net.logits(framed), clf.temperature)
    t2 = time.perf_counter()
    return {"n": len(labels), "float_accuracy": float((p32.argmax(1) == labels).mean()),
            "int8_accuracy": float((p8.argmax(1) == labels).mean()),
            "agreement": float((p32.argmax(1) == p8.argmax(1)).mean()),
            "float_crops_per_s": len(labels) / (t1 - t0), "int8_crops_per_s": len(labels) / (t2 - t1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--weights", type=Path, default=shipped.CLASSIFIER_WEIGHTS)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    clf = Classifier.load(args.weights, backend="torch")  # the torch model is exported
    out = quantise(clf, train_crops(args.data, clf, CALIBRATION_CROPS), int8_path(args.weights))
    net = Int8Network(out, mean=clf._mean.ravel(), std=clf._std.ravel())
    images, labels = validation_sets(data=args.data, sets=("labelled",))["labelled"]
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), calibrated on {CALIBRATION_CROPS} "
          "training crops")
    print("validation, full size:", compare(clf, net, images, labels))
    nominal = clf.framing.fill * images.shape[1]
    for n_px in (8, 12, 16):
        small = [shrink(im, n_px / nominal, psf_fwhm_px=1.6, seed=i) for i, im in enumerate(images)]
        print(f"validation shrunk to {n_px} px:", compare(clf, net, np.asarray(small), labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
