"""What made a catalogue: software, model weights and settings, as export header keywords.

A catalogue is only reusable in research if one can tell how it was made:
which weights (by content hash), which stretch (YOLO and the classifier see
the rendered picture), which run and filter settings.  :func:`run_provenance`
gathers them as FITS-safe keywords (8 characters or fewer, upper case) that
the FITS and ECSV exports write into their headers.

>>> import numpy as np
>>> render_summary(RenderSettings(a=0.1))
'asym_percentile 20-99.95%, asinh a=0.1, gray'
>>> field = Field(np.zeros((1, 8, 8), np.float32), name="sky")
>>> meta = run_provenance(field, RenderSettings(), RunSettings(method="sep", classify=False))
>>> meta["FIELD"], meta["METHOD"], meta["SEPTHR"], "RENDER" in meta
('sky', 'sep', 3.0, False)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from galaxy_core import __version__, shipped
from galaxy_core.display import RenderSettings
from galaxy_core.morphology.onnx_network import file_sha256
from galaxy_core.pipeline import RunResult, RunSettings
from galaxy_core.types import Field

#: Hex digits of a weights file's SHA-256 written to the header.
HASH_DIGITS = 16


def weights_id(path: str | Path) -> str:
    """``name sha256:<first 16 hex digits>`` of a weights file (hash cached per file version)."""
    return f"{Path(path).name} sha256:{file_sha256(path)[:HASH_DIGITS]}"


def render_summary(s: RenderSettings, n_bands: int = 1) -> str:
    """The stretch in one line: interval and its limits, stretch and parameter, colours."""
    interval = {
        "percentile": f"percentile {s.percent:g}%",
        "asym_percentile": f"asym_percentile {s.lower_percent:g}-{s.upper_percent:g}%",
        "manual": f"manual {s.vmin:g}..{s.vmax:g}" if s.vmin is not None and s.vmax is not None
        else "manual",
    }.get(s.interval, s.interval)
    stretch = s.stretch if s.a is None else f"{s.stretch} a={s.a:.4g}"
    if s.rgb_method == "lupton" and n_bands == 3:
        lupton = ", ".join(f"{k}={v:.4g}" for k, v in (("Q", s.lupton_q),
                                                         ("stretch", s.lupton_stretch),
                                                         ("minimum", s.lupton_minimum))
                           if v is not None)
        return f"lupton {lupton}".rstrip()
    colours = s.colormap if n_bands == 1 else "per band"
    return f"{interval}, {stretch}, {colours}"


def run_provenance(field: Field, render_settings: RenderSettings, run_settings: RunSettings, *,
                   method: str | None = None, classified: bool | None = None,
                   detector_weights: str | Path | None = None,
                   classifier_weights: str | Path | None = None,
                   threshold: float | None = None, classes: tuple[str, ...] | None = None,
                   when: datetime | None = None) -> dict[str, str | float | int | bool]:
    """Header keywords for a catalogue of one run (see the module docstring).

    Args:
        field: the field the run saw (its name and number of bands are written).
        run_settings: the run's settings.
        method, classified: what the run did (default: resolved from the settings).
        detector_weights, classifier_weights: the files used (default: the shipped ones).
        threshold, classes: the view's score threshold and the classes shown (app exports).
        when: the time written as DATE (default: now, UTC).
    """
    method = method or run_settings.resolved_method()
    if classified is None:
        classified = run_settings.classifies
    meta: dict[str, str | float | int | bool] = {
        "ORIGIN": f"galaxy_core {__version__}",
        "DATE": (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"),
        "FIELD": field.name,
        "METHOD": method,
    }
    if method == "yolo" or classified:  # sep alone sees the pixels, not the render
        meta["RENDER"] = render_summary(render_settings, field.n_bands)
    meta["FLOOR"] = float(run_settings.floor)
    if method == "yolo":
        meta["DETWTS"] = weights_id(detector_weights or shipped.DETECTOR_WEIGHTS)
        meta["UPSAMPLE"] = float(run_settings.upsample)
        meta["DETTTA"] = bool(run_settings.detect_tta)
    else:
        meta["SEPTHR"] = float(run_settings.sep_thresh_sigma)
        meta["SEPAREA"] = int(run_settings.sep_minarea)
    if classified:
        meta["CLSWTS"] = weights_id(classifier_weights or shipped.CLASSIFIER_WEIGHTS)
        meta["CLSTTA"] = bool(run_settings.tta)
    if threshold is not None:
        meta["THRESH"] = float(threshold)
    if classes is not None:
        meta["CLASSES"] = ",".join(classes)
    return meta


def result_provenance(field: Field, result: RunResult, **view) -> dict[str, str | float | int | bool]:
    """:func:`run_provenance` of a finished run (``view``: its threshold, classes, weights)."""
    return run_provenance(field, result.render, result.settings, method=result.method,
                          classified=result.classified, **view)
