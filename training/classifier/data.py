"""Labelled galaxy cutouts for the morphology classifier, and their split.

Reads the real labelled sets in ``../shared/data`` (see its README) with the
README's six-class mapping, the seed project's Kaggle Galaxy Zoo files
(:func:`kaggle_labels`), colour stars cut from the SDSS fields (to counter the
grey ground-based star cutouts teaching "grey means star"), and splits items
into train / validation deterministically by a salted hash of their name.

Every item table has the columns ``source, name, path, label, y, x_px, y_px,
split``: ``y`` is the index of ``label`` in CLASS_NAMES, ``x_px, y_px`` the
object's centre for items cut from a larger field (NaN for centred cutouts).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.picture import read_rgb
from galaxy_core.morphology.framing import luminance
from galaxy_core.types import CLASS_INDEX, CLASS_NAMES

#: Kaggle ``training_solutions_rev1.csv`` column that votes for each class.
KAGGLE_COLUMNS: dict[str, str] = {
    "Class4.1": "Spiral",
    "Class3.1": "Spiral_Barred",
    "Class1.1": "Elliptical",
    "Class2.1": "On_Edge",
    "Class8.4": "Irregular",
    "Class1.3": "Star/Artifact",
}
#: Salt of the train/validation hash; recorded in the checkpoint's recipe.
SPLIT_SEED = 20261123
VAL_FRACTION = 0.15
_COLUMNS = ["source", "name", "path", "label", "y", "x_px", "y_px"]


def split_of(name: str, *, seed: int | str = SPLIT_SEED, val_fraction: float = VAL_FRACTION) -> str:
    """``"val"`` or ``"train"`` from a salted SHA-1 of the item name (stable across runs)."""
    digest = hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()
    return "val" if int(digest[:8], 16) / 0xFFFFFFFF < val_fraction else "train"


def _table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=_COLUMNS)
    df["y"] = df["label"].map(CLASS_INDEX).astype(int)
    df[["x_px", "y_px"]] = df[["x_px", "y_px"]].astype(float)
    return df


def _row(source: str, name: str, path: Path, label: str, x: float = np.nan, y: float = np.nan) -> dict:
    return {"source": source, "name": f"{source}/{name}", "path": str(path), "label": label,
            "x_px": x, "y_px": y}


def gz1_items(root: Path) -> pd.DataFrame:
    """gz1: CLASS 0 Elliptical, 1/2 Spiral, 3 On_Edge, 5 Irregular (4 'don't know' left out)."""
    mapping = {0: "Elliptical", 1: "Spiral", 2: "Spiral", 3: "On_Edge", 5: "Irregular"}
    labels = pd.read_csv(root / "gz1" / "labels.csv", dtype={"OBJID": str})
    rows = [_row("gz1", r.OBJID, root / "gz1" / "images" / f"{r.OBJID}.jpeg", mapping[r.CLASS])
            for r in labels.itertuples() if r.CLASS in mapping]
    return _table(rows)


def ngc_label(coarse: str, hubble: str, axis_ratio: float) -> str | None:
    """The README's ngc_sdss mapping; None for objects left out (lenticulars, SAB, 0.3-0.5 spirals)."""
    hubble = str(hubble)
    if coarse == "elliptical":
        return "Elliptical"
    if coarse == "irregular":
        return "Irregular"
    if coarse != "spiral" or not np.isfinite(axis_ratio):
        return None
    if axis_ratio < 0.3:
        return "On_Edge"
    if axis_ratio < 0.5:
        return None
    if hubble.startswith("SB"):
        return "Spiral_Barred"
    if hubble.startswith("SAB"):
        return None
    return "Spiral"


def ngc_items(root: Path) -> pd.DataFrame:
    """ngc_sdss mapped with :func:`ngc_label`."""
    labels = pd.read_csv(root / "ngc_sdss" / "labels.csv")
    rows = []
    for r in labels.itertuples():
        ratio = r.MinAx / r.MajAx if r.MajAx and r.MajAx > 0 else np.nan
        label = ngc_label(r.coarse, r.Hubble, ratio)
        path = root / "ngc_sdss" / "images" / f"{r.Name}.jpg"
        if label is not None and path.exists():
            rows.append(_row("ngc", r.Name, path, label))
    return _table(rows)


def interacting_items(root: Path) -> pd.DataFrame:
    """interacting_sdss ``label1`` 2 (distorted) and 3 (tidal tail) as Irregular, both csvs."""
    rows = []
    for part in ("train", "valid"):
        table = pd.read_csv(root / "interacting_sdss" / f"{part}.csv", dtype={"R.A.": str, "Dec.": str})
        for r in table.itertuples(index=False):
            name = f"{r[1]}_{r[2]}"
            path = root / "interacting_sdss" / part / f"{name}.jpg"
            if r.label1 in (2, 3) and path.exists():
                rows.append(_row("interacting", name, path, "Irregular"))
    return _table(rows)


def star_items(root: Path) -> pd.DataFrame:
    """star_galaxy_cutouts/star: grey ground-based star cutouts, Star/Artifact."""
    paths = sorted((root / "star_galaxy_cutouts" / "star").glob("*.jpg"))
    return _table([_row("stars_grey", p.stem, p, "Star/Artifact") for p in paths])


def grey_galaxy_items(root: str | Path, *, seed: int = SPLIT_SEED) -> pd.DataFrame:
    """star_galaxy_cutouts/galaxy (no morphology): grey ground-based galaxies, with their split."""
    root = Path(root)
    paths = sorted((root / "star_galaxy_cutouts" / "galaxy").glob("*.jpg"))
    df = pd.DataFrame({"source": "galaxies_grey", "name": [f"galaxies_grey/{p.stem}" for p in paths],
                       "path": [str(p) for p in paths]})
    df["split"] = [split_of(n, seed=seed) for n in df["name"]]
    return df


def find_field_stars(rgb: np.ndarray, *, max_radius_px: float = 3.5, min_snr: float = 20.0,
                     edge_px: int = 24) -> pd.DataFrame:
    """Point sources in a colour survey field: compact, round, isolated sep detections.

    Args:
        rgb: uint8 (H, W, 3) field.
        max_radius_px: largest half-light radius (px) counted as point-like; the
            stellar locus is also cut at 1.3x its measured median.
        min_snr: smallest flux S/N.
        edge_px: distance kept from the field's edges, px.

    Returns:
        DataFrame with x, y (px), flux_radius (px), snr.
    """
    import sep

    lum = np.ascontiguousarray(luminance(rgb))
    bkg = sep.Background(lum, bw=64, bh=64)
    sub = lum - bkg.back()
    objs = sep.extract(sub, 5.0, err=bkg.globalrms, minarea=5)
    h, w = lum.shape
    r, _ = sep.flux_radius(sub, objs["x"], objs["y"], 6.0 * objs["a"], 0.5, subpix=5)
    snr = objs["flux"] / (bkg.globalrms * np.sqrt(np.maximum(objs["npix"], 1)))
    df = pd.DataFrame({"x": objs["x"], "y": objs["y"], "flux_radius": r, "snr": snr,
                       "ratio": objs["b"] / np.maximum(objs["a"], 1e-3), "flag": objs["flag"]})
    ok = ((df.x > edge_px) & (df.x < w - edge_px) & (df.y > edge_px) & (df.y < h - edge_px)
          & (df.snr > min_snr) & (df.ratio > 0.8) & ((df.flag & 1) == 0) & (df.flux_radius > 0))
    df = df[ok]
    locus = float(np.median(df.flux_radius)) if len(df) else max_radius_px
    return df[df.flux_radius < min(max_radius_px, 1.3 * locus)].reset_index(drop=True)


def sdss_field_star_items(root: Path) -> pd.DataFrame:
    """Colour stars found in the SDSS fields (both stretches), Star/Artifact, cut at (x_px, y_px)."""
    rows = []
    for path in sorted((root / "sdss_fields").glob("data_*.jpg")):
        stars = find_field_stars(read_rgb(path))
        for stretch in ("data", "hic"):
            p = path.with_name(path.name.replace("data_", f"{stretch}_", 1))
            if not p.exists():
                continue
            for s in stars.itertuples():
                # Name by position only, so both stretches of one star share a split.
                name = f"{path.stem}_{s.x:.0f}_{s.y:.0f}"
                row = _row("stars_sdss", name, p, "Star/Artifact", s.x, s.y)
                row["name"] = f"stars_sdss/{stretch}/{name}"
                row["split_key"] = f"stars_sdss/{name}"
                rows.append(row)
    df = _table(rows)
    df["split_key"] = [r["split_key"] for r in rows]
    return df


def labelled_items(root: str | Path, *, seed: int = SPLIT_SEED, include_field_stars: bool = True) -> pd.DataFrame:
    """Every labelled item in ``root`` (the shared data folder) with its split.

    Raises:
        GalaxyCoreError: when ``root`` holds none of the labelled sets.
    """
    root = Path(root)
    if not (root / "gz1" / "labels.csv").exists():
        raise GalaxyCoreError(f"No labelled galaxy data in {str(root)!r} (expected gz1/labels.csv there).")
    parts = [gz1_items(root), ngc_items(root), interacting_items(root), star_items(root)]
    if include_field_stars and (root / "sdss_fields").exists():
        parts.append(sdss_field_star_items(root))
    df = pd.concat(parts, ignore_index=True)
    key = df["split_key"].fillna(df["name"]) if "split_key" in df else df["name"]
    df["split"] = [split_of(k, seed=seed) for k in key]
    return df.drop(columns=["split_key"], errors="ignore")


def gz2_items(root: str | Path, *, seed: int = SPLIT_SEED) -> pd.DataFrame:
    """gz2_spiral two-way set: source, name, path, spiral (bool), split (same hash as the labelled sets)."""
    root = Path(root) / "gz2_spiral"
    rows = [{"source": "gz2", "name": f"gz2/{p.stem}", "path": str(p), "spiral": folder == "spirals"}
            for folder in ("spirals", "non_spirals") for p in sorted((root / folder).glob("*.jpg"))]
    df = pd.DataFrame(rows, columns=["source", "name", "path", "spiral"])
    df["split"] = [split_of(n, seed=seed) for n in df["name"]]
    return df


def kaggle_labels(csv: str | Path) -> pd.DataFrame:
    """The seed's Kaggle labels: GalaxyID, label, y, from the six vote columns (argmax).

    Raises:
        GalaxyCoreError: unreadable file or missing columns.
    """
    try:
        table = pd.read_csv(csv)
    except (OSError, ValueError) as err:
        raise GalaxyCoreError(f"Cannot read the Kaggle labels {str(csv)!r}: {err}") from err
    missing = [c for c in ["GalaxyID", *KAGGLE_COLUMNS] if c not in table.columns]
    if missing:
        raise GalaxyCoreError(f"{str(csv)!r} lacks the Kaggle columns {missing}.")
    votes = table[list(KAGGLE_COLUMNS)].to_numpy(dtype=float)
    names = np.array(list(KAGGLE_COLUMNS.values()))
    labels = names[np.argmax(votes, axis=1)]
    return pd.DataFrame({"GalaxyID": table["GalaxyID"].astype(str), "label": labels,
                         "y": [CLASS_INDEX[n] for n in labels]})


def kaggle_items(kaggle_dir: str | Path, *, seed: int = SPLIT_SEED) -> pd.DataFrame:
    """Items of the seed's Kaggle data (``training_solutions_rev1.csv`` + ``images_training_rev1/``)."""
    kaggle_dir = Path(kaggle_dir)
    labels = kaggle_labels(kaggle_dir / "training_solutions_rev1.csv")
    images = kaggle_dir / "images_training_rev1"
    rows = [_row("kaggle", g, images / f"{g}.jpg", lab) for g, lab in zip(labels.GalaxyID, labels.label, strict=True)]
    df = _table([r for r in rows if Path(r["path"]).exists()])
    df["split"] = [split_of(n, seed=seed) for n in df["name"]]
    return df


def class_counts(items: pd.DataFrame) -> pd.DataFrame:
    """Items per class (rows, CLASS_NAMES order) and split (columns)."""
    counts = items.groupby(["label", "split"]).size().unstack(fill_value=0)
    return counts.reindex(list(CLASS_NAMES), fill_value=0)
