"""Probability calibration: temperature scaling, expected calibration error, reliability diagram.

Temperature scaling (Guo et al. 2017) divides the logits by one scalar T > 0
fitted on validation logits by minimising the negative log-likelihood; it
changes confidence, never the predicted class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels, nats."""
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, low: float = 0.05,
                    high: float = 20.0, steps: int = 200) -> float:
    """The temperature minimising the NLL on (logits, labels): golden-section search on log T."""
    labels = np.asarray(labels, dtype=int)
    a, b = np.log(low), np.log(high)
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(steps):
        if abs(b - a) < 1e-5:
            break
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2.0))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Top-label confidence bins: edges, count, mean confidence and accuracy per bin."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(labels)).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": acc}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15) -> float:
    """ECE: bin-weighted mean |accuracy - confidence| of the top label (equal-width bins)."""
    b = reliability_bins(probs, labels, n_bins=n_bins)
    used = b["count"] > 0
    w = b["count"][used] / b["count"].sum()
    return float(np.sum(w * np.abs(b["accuracy"][used] - b["confidence"][used])))


def reliability_diagram(probs: np.ndarray, labels: np.ndarray, path: str | Path, *, n_bins: int = 15,
                        title: str = "Reliability", uncalibrated: np.ndarray | None = None) -> Path:
    """Save a reliability diagram PNG (accuracy vs confidence per bin, with ECE in the legend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.0, 4.0), dpi=90)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect")
    series = [("calibrated", probs, "C0")]
    if uncalibrated is not None:
        series.insert(0, ("T = 1", uncalibrated, "C3"))
    for name, p, colour in series:
        b = reliability_bins(p, labels, n_bins=n_bins)
        used = b["count"] > 0
        ece = expected_calibration_error(p, labels, n_bins=n_bins)
        ax.plot(b["confidence"][used], b["accuracy"][used], "o-", color=colour, ms=4,
                label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence (top class)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
