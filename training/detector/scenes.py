"""Detector training scenes with exact truth, built from real galaxy and star images.

Recipe (all pixel values in units of the sky rms, sigma = 1 per band):

1. **Cutout library** (:func:`build_library`): real galaxies from the labelled
   sets in ``../shared/data`` (Galaxy Zoo 1, NGC/IC, GALAXY CRUISE interacting
   pairs and the ground-based galaxy cutouts, all SDSS-like JPEGs approximately
   linearised by inverting an asinh stretch) and every bright object of the
   real HST Abell 2744 F105W and COSMOS FITS cutouts.  Each object is separated
   from its sky by segmentation (sep, 3 sigma, deblended; the segment of the
   central object, dilated by 2 px), background-subtracted, clipped at zero and
   cut to its footprint.  Items are split train / held-out by
   :func:`training.classifier.data.split_of` of their name (15 % held out).
2. **Scene** (:func:`make_scene`): objects of the split drawn at random
   positions (some cut by the edge, a quarter placed as blends next to another),
   sizes log-uniform from 4 px to 300 px, any rotation and flip, peak S/N
   log-uniform, convolved with the real WFC3/IR F105W PSF or a Gaussian core
   (FWHM 1.2 to 3 px); :data:`SMALL_RECIPE` lowers both limits (1.5 px, 0.8 px)
   and raises the crowding for undersampled pictures.  Stars are the PSF with a
   Moffat halo and, when bright, four diffraction spikes.  Noise is Gaussian,
   optionally correlated like drizzled HST data and modulated by a real Abell
   2744 rms map, on a random pedestal; one or three bands; some scenes are empty.
3. **Render**: :func:`galaxy_core.display.render.render` (the app's FITS-to-RGB path)
   under random :class:`RenderSettings` (:func:`random_render_settings`: every
   interval, every stretch, wide parameter ranges, colormaps, Lupton RGB).

**Detectable** (what gets a label): an object's own noiseless model in the
luminance (mean of the bands, noise ``sigma_lum = 1/sqrt(n_bands)``) is
thresholded at ``1 sigma_lum``; its isophotal S/N is
``sum(model[iso]) / (sigma_lum * sqrt(n_iso))`` over those in-image pixels.
Objects with S/N >= ``MIN_SNR`` (5) and at least 3 pixels are labelled; the
box is the bounding box of the isophote (for stars, the isophote is raised to
0.5 % of the peak so halos and spikes do not set the box), at least 4 px.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage, signal

from galaxy_core.display import RenderSettings, render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field
from training.classifier import data as morph_data

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
CACHE_DIR = REPO_ROOT / "cache" / "detector"
CLASSES = ("galaxy", "star")
MIN_SNR = 5.0
#: Largest side of a stored cutout (px); larger objects are upsampled when placed.
STAMP_MAX = 160
_HST = "hst/abell2744"


def split_of(name: str) -> str:
    """``"train"`` or ``"val"``: 15 % held out by a hash of the item name salted "detector"."""
    return morph_data.split_of(name, seed="detector")


@dataclass(frozen=True, eq=False)
class Library:
    """Cutouts of real objects: ``stamps[i]`` is float32 (3, h, w), unit luminance sum."""

    stamps: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    splits: tuple[str, ...]
    psf: np.ndarray
    rms_maps: tuple[np.ndarray, ...]

    def __repr__(self) -> str:
        n_val = sum(s == "val" for s in self.splits)
        return f"Library({len(self.stamps)} cutouts, {n_val} held out, psf {self.psf.shape})"

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(np.array(self.splits) == split)


# ----------------------------------------------------------------------------- library

def _linearise_jpeg(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) SDSS-like picture -> float (3, H, W), inverting an asinh stretch."""
    x = rgb.astype(np.float32) / 255.0
    return np.moveaxis(np.sinh(3.0 * x) / np.sinh(3.0), -1, 0)


def isolate(bands: np.ndarray, *, centre_only: bool = True, min_snr: float = 30.0,
            min_npix: int = 12) -> list[np.ndarray]:
    """Objects of a (3, H, W) float image separated from their sky by sep segmentation.

    ``centre_only`` keeps the object under (or nearest) the image centre; else every
    object with isophotal S/N >= ``min_snr``.  Returns (3, h, w) stamps, each
    background-subtracted, masked to its dilated segment, clipped at 0.
    """
    import sep

    data = np.ascontiguousarray(bands, dtype=np.float32)
    subs = []
    for band in data:
        bkg = sep.Background(np.ascontiguousarray(band), bw=32, bh=32)
        subs.append(band - bkg.back())
    sub = np.stack(subs)
    lum = np.ascontiguousarray(sub.mean(axis=0))
    low = lum[lum <= np.percentile(lum, 60)]
    rms = float(np.std(low)) * 1.6 if low.size > 1 else 0.0
    rms = rms if np.isfinite(rms) and rms > 0 else 1e-3
    try:
        objects, seg = sep.extract(lum, 3.0, err=rms, minarea=min_npix, segmentation_map=True,
                                   deblend_cont=0.005)
    except Exception:  # sep's own overflow errors: skip this image
        return []
    if len(objects) == 0:
        return []
    h, w = lum.shape
    if centre_only:
        cid = seg[h // 2, w // 2]
        if cid == 0:
            d = np.hypot(objects["x"] - w / 2, objects["y"] - h / 2)
            if d.min() > 0.2 * min(h, w):
                return []
            cid = int(np.argmin(d)) + 1
        ids = [int(cid)]
    else:
        snr = objects["flux"] / (rms * np.sqrt(np.maximum(objects["npix"], 1)))
        ids = [i + 1 for i in np.flatnonzero((snr >= min_snr) & (objects["npix"] >= min_npix))]
    out = []
    for oid in ids:
        mask = ndimage.binary_dilation(seg == oid, iterations=2)
        rows, cols = np.nonzero(mask)
        if rows.size < min_npix:
            continue
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        if centre_only is False and (r0 == 0 or c0 == 0 or r1 == h or c1 == w):
            continue  # cut by the cutout's own edge
        stamp = np.clip(sub[:, r0:r1, c0:c1] * mask[r0:r1, c0:c1], 0, None)
        out.append(_shrink(stamp))
    return out


def _shrink(stamp: np.ndarray) -> np.ndarray:
    from skimage.transform import resize

    side = max(stamp.shape[1:])
    if side > STAMP_MAX:
        f = STAMP_MAX / side
        shape = (3, max(2, round(stamp.shape[1] * f)), max(2, round(stamp.shape[2] * f)))
        stamp = resize(stamp, shape, anti_aliasing=True, preserve_range=True)
    total = stamp.mean(axis=0).sum()
    return (stamp / max(total, 1e-12)).astype(np.float32)


def _jpeg_items(data_dir: Path, per_source: int, rng: np.random.Generator) -> Iterator[tuple[str, Path]]:
    sources = {
        "gz1": sorted((data_dir / "gz1" / "images").glob("*.jp*g")),
        "ngc": sorted((data_dir / "ngc_sdss" / "images").glob("*.jpg")),
        "cruise": sorted((data_dir / "interacting_sdss" / "train").glob("*.jpg")),
        "sgal": sorted((data_dir / "star_galaxy_cutouts" / "galaxy").glob("*.jpg")),
    }
    for source, paths in sources.items():
        take = rng.permutation(len(paths))[:per_source]
        for i in take:
            yield f"{source}/{paths[i].name}", paths[i]


def build_library(data_dir: Path = DATA_DIR, *, per_source: int = 450, seed: int = 0,
                  cache: Path | None = CACHE_DIR / "library.npz") -> Library:
    """Cut the real objects out of ``data_dir`` (or load them from ``cache``)."""
    from astropy.io import fits

    if cache is not None and cache.exists():
        return load_library(cache)
    if not (data_dir / _HST).is_dir():
        raise GalaxyCoreError(f"The real training data is not at {data_dir}: cannot build cutouts.")
    rng = np.random.default_rng(seed)
    stamps, names = [], []
    for name, path in _jpeg_items(data_dir, per_source, rng):
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        for k, s in enumerate(isolate(_linearise_jpeg(rgb))):
            stamps.append(s)
            names.append(f"{name}#{k}")
    fits_files = sorted((data_dir / _HST).glob("abell_2744_*_f105w.fits.gz"))
    fits_files += [data_dir / _HST / "example_sersic.fits.gz"]
    fits_files += sorted((data_dir / "hst" / "cosmos").glob("*_masknoise.fits"))
    for path in fits_files:
        img = np.nan_to_num(fits.getdata(path).astype(np.float32))
        for k, s in enumerate(isolate(np.repeat(img[None], 3, axis=0), centre_only=False)):
            stamps.append(s)
            names.append(f"{path.name}#{k}")
    psf = fits.getdata(data_dir / _HST / "f105w_psf.fits.gz").astype(np.float32)
    psf = np.clip(psf, 0, None) / psf.sum()
    rms_maps = []
    for path in sorted((data_dir / _HST).glob("*rms.fits.gz")):
        r = fits.getdata(path).astype(np.float32)
        rms_maps.append(r / np.nanmedian(r))
    lib = Library(tuple(stamps), tuple(names), tuple(split_of(n) for n in names), psf,
                  tuple(rms_maps))
    if cache is not None:
        save_library(lib, cache)
    return lib


def save_library(lib: Library, path: Path, *, compact: bool = False) -> None:
    """Write the library to ``path`` (.npz): float16 stamps, or ``compact`` 8-bit ones.

    ``compact`` stores each stamp as ``round(255 sqrt(s / max(s)))`` with its
    maximum, zip-compressed: a quarter of the size (19 MB instead of 78 MB for
    the shipped recipe's library), which lets it travel to a training machine.
    The square-root code keeps about 0.4 % relative precision at a stamp's peak
    and finer steps below a hundredth of it, under the cutouts' own noise.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    shapes = np.array([s.shape[1:] for s in lib.stamps])
    common = dict(shapes=shapes, names=np.array(lib.names), splits=np.array(lib.splits),
                  psf=lib.psf,
                  rms=np.stack(lib.rms_maps) if lib.rms_maps else np.zeros((0, 1, 1), np.float32))
    if not compact:
        flat = np.concatenate([s.ravel() for s in lib.stamps]).astype(np.float16)
        np.savez(path, flat=flat, **common)
        return
    peaks = np.array([max(float(s.max()), 1e-30) for s in lib.stamps], np.float32)
    codes = np.concatenate([np.round(255 * np.sqrt(np.clip(s, 0, None) / m)).astype(np.uint8).ravel()
                            for s, m in zip(lib.stamps, peaks, strict=True)])
    np.savez_compressed(path, codes=codes, peaks=peaks, **common)


def load_library(path: Path) -> Library:
    """Read a library written by :func:`save_library` (either storage)."""
    z = np.load(path)
    compact = "codes" in z.files
    flat = z["codes"] if compact else z["flat"].astype(np.float32)
    peaks = z["peaks"] if compact else None  # each z[...] reads (and unzips) the member again
    stamps, start = [], 0
    for i, (h, w) in enumerate(z["shapes"]):
        n = 3 * int(h) * int(w)
        part = flat[start : start + n].reshape(3, int(h), int(w))
        if compact:
            part = (part.astype(np.float32) / 255) ** 2 * peaks[i]
        stamps.append(part)
        start += n
    return Library(tuple(stamps), tuple(str(n) for n in z["names"]),
                   tuple(str(s) for s in z["splits"]), z["psf"], tuple(z["rms"]))


# ----------------------------------------------------------------------------- scenes

@dataclass(frozen=True)
class Placed:
    """One object's noiseless model in a scene: bands (n_bands, h, w) at (row0, col0)."""

    kind: str
    row0: int
    col0: int
    model: np.ndarray


def _gauss_psf(fwhm: float) -> np.ndarray:
    r = int(np.ceil(2.5 * fwhm)) + 1
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    p = np.exp(-(xx**2 + yy**2) / (2 * (fwhm / 2.3548) ** 2))
    return (p / p.sum()).astype(np.float32)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


@dataclass(frozen=True)
class SceneRecipe:
    """The size knobs of :func:`make_scene`, in px.

    Attributes:
        min_object_px: smallest placed galaxy side before the PSF (the
            small-size branch is log-uniform from here to 30 px).
        min_psf_fwhm: narrowest Gaussian PSF core (FWHM; the widest is 3 px).
        max_density: most galaxies per 320x320 px (log-uniform from 2).
    """

    min_object_px: float = 4.0
    min_psf_fwhm: float = 1.2
    max_density: float = 60.0


#: Undersampled, crowded fields (pictures binned down, like the scikit-image
#: XDF with ~200 sources per 320 px square): a third of the small galaxies
#: below 4 px, PSF cores down to 0.8 px FWHM, up to 250 galaxies per scene.
SMALL_RECIPE = SceneRecipe(min_object_px=1.5, min_psf_fwhm=0.8, max_density=250.0)
RECIPES = {"standard": SceneRecipe(), "small": SMALL_RECIPE}


def _object_size(rng: np.random.Generator, min_px: float) -> float:
    """Longest side of a placed galaxy (px): mostly small, some up to 300."""
    u = rng.random()
    if u < 0.65:
        return _log_uniform(rng, min_px, 30)
    if u < 0.93:
        return _log_uniform(rng, 30, 120)
    return _log_uniform(rng, 120, 300)


def _galaxy_model(rng: np.random.Generator, stamp: np.ndarray, size: float,
                  psf: np.ndarray, n_bands: int) -> np.ndarray:
    """A cutout rotated, flipped, resized to ``size`` px, PSF-convolved; unit luminance peak."""
    img = stamp[:, ::-1] if rng.random() < 0.5 else stamp
    angle = rng.uniform(0, 360)
    img = ndimage.rotate(img, angle, axes=(1, 2), reshape=True, order=1, mode="constant")
    scale = size / max(img.shape[1:])
    if abs(scale - 1) > 0.02:
        from skimage.transform import resize

        shape = (3, max(1, round(img.shape[1] * scale)), max(1, round(img.shape[2] * scale)))
        img = resize(img, shape, anti_aliasing=scale < 1, preserve_range=True, order=1)
    img = np.clip(img, 0, None).astype(np.float32)
    colour = rng.uniform(0.7, 1.3, size=(3, 1, 1)).astype(np.float32)
    img = img * colour
    if n_bands == 1:
        img = img.mean(axis=0, keepdims=True)
    out = np.stack([signal.fftconvolve(b, psf, mode="full") for b in img]).astype(np.float32)
    out = np.clip(out, 0, None)
    return out / max(float(out.mean(axis=0).max()), 1e-12)


def _star_model(rng: np.random.Generator, psf: np.ndarray, peak_snr: float,
                n_bands: int) -> np.ndarray:
    """A star of luminance peak ``peak_snr``: PSF core, Moffat halo, spikes when bright."""
    r = int(np.clip(6 + 8 * np.log10(max(peak_snr, 1)), 8, 60))
    sx, sy = rng.uniform(-0.5, 0.5, 2)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    dx, dy = xx - sx, yy - sy
    rr = np.hypot(dx, dy)
    core = np.zeros_like(rr)
    pc = int(np.argmax(psf.max(axis=1)))
    k = min(pc, psf.shape[0] - 1 - pc, r)
    core[r - k : r + k + 1, r - k : r + k + 1] = psf[pc - k : pc + k + 1, pc - k : pc + k + 1]
    core = ndimage.shift(core, (sy, sx), order=1)
    core /= max(core.max(), 1e-12)
    img = core + rng.uniform(0.002, 0.02) * (1 + (rr / rng.uniform(1.5, 4.0)) ** 2) ** -2.5
    if peak_snr > 300:
        angle = np.radians(rng.choice([0.0, 45.0]) + rng.normal(0, 2))
        length = rng.uniform(0.2, 0.5) * r
        for a in (angle, angle + np.pi / 2):
            along = dx * np.cos(a) + dy * np.sin(a)
            across = -dx * np.sin(a) + dy * np.cos(a)
            img += 0.01 * np.exp(-(across**2) / 0.6) * np.exp(-np.abs(along) / length)
    colour = rng.uniform(0.8, 1.2, size=(n_bands, 1, 1)) if n_bands == 3 else np.ones((1, 1, 1))
    img = img[None] * colour
    return (img / img.mean(axis=0).max() * peak_snr).astype(np.float32)


def _noise(rng: np.random.Generator, lib: Library, n_bands: int, h: int, w: int) -> np.ndarray:
    noise = rng.normal(0, 1, (n_bands, h, w)).astype(np.float32)
    if rng.random() < 0.6:  # drizzled HST noise is correlated between neighbours
        s = rng.uniform(0.4, 0.9)
        noise = np.stack([ndimage.gaussian_filter(b, s) for b in noise])
        noise /= noise.std()
    if lib.rms_maps and rng.random() < 0.5:
        rms = lib.rms_maps[rng.integers(len(lib.rms_maps))]
        rms = np.rot90(rms, rng.integers(4))
        zoom = (h / rms.shape[0], w / rms.shape[1])
        noise *= ndimage.zoom(rms, zoom, order=1)[:h, :w]
    return noise


def make_scene(rng: np.random.Generator, lib: Library, *, size: int = 320, split: str = "train",
               density: float | None = None,
               recipe: SceneRecipe = SceneRecipe()) -> tuple[Field, list[Placed]]:
    """A float field (sky rms units) and the noiseless model of every object in it.

    ``density``: galaxies per 320x320 px (random, 5 % empty scenes, when None).
    The default ``recipe`` draws the same scenes for the same ``rng`` as before
    it existed, so held-out bench fields do not change.
    """
    h = w = size
    n_bands = 3 if rng.random() < 0.5 else 1
    psf = (lib.psf if rng.random() < 0.5 else _gauss_psf(rng.uniform(recipe.min_psf_fwhm, 3.0)))
    area = size * size / 320**2
    if density is None:
        density = 0.0 if rng.random() < 0.05 else _log_uniform(rng, 2, recipe.max_density)
    n_gal = rng.poisson(density * area)
    n_star = rng.poisson(rng.uniform(0, 6) * area)
    pool = lib.indices(split)
    placed: list[Placed] = []
    centres: list[tuple[float, float, float]] = []
    for _ in range(n_gal):
        length = _object_size(rng, recipe.min_object_px)
        model = _galaxy_model(rng, lib.stamps[rng.choice(pool)], length, psf, n_bands)
        model *= _log_uniform(rng, 0.4, 400)
        mh, mw = model.shape[1:]
        if centres and rng.random() < 0.25:
            cx, cy, cl = centres[rng.integers(len(centres))]
            ang, sep = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.2) * (length + cl) / 2
            x, y = cx + sep * np.cos(ang), cy + sep * np.sin(ang)
        else:
            x, y = rng.uniform(-0.3 * length, w + 0.3 * length, 2)
        centres.append((x, y, length))
        placed.append(Placed("galaxy", int(round(y - mh / 2)), int(round(x - mw / 2)), model))
    for _ in range(n_star):
        model = _star_model(rng, psf, _log_uniform(rng, 1, 1e5), n_bands)
        x, y = rng.uniform(-3, w + 3, 2)
        r = model.shape[1] // 2
        placed.append(Placed("star", int(round(y)) - r, int(round(x)) - r, model))
    data = _noise(rng, lib, n_bands, h, w)
    for p in placed:
        _paste(data, p)
    data += rng.uniform(-0.5, 30) * np.ones((n_bands, 1, 1), dtype=np.float32)
    return Field(data.astype(np.float32), name="scene", kind="fits"), placed


def _paste(target: np.ndarray, p: Placed) -> None:
    _, h, w = target.shape
    mh, mw = p.model.shape[1:]
    r0, c0 = max(p.row0, 0), max(p.col0, 0)
    r1, c1 = min(p.row0 + mh, h), min(p.col0 + mw, w)
    if r0 < r1 and c0 < c1:
        target[:, r0:r1, c0:c1] += p.model[:, r0 - p.row0 : r1 - p.row0, c0 - p.col0 : c1 - p.col0]


def truth_table(field: Field, placed: list[Placed], *, min_snr: float = MIN_SNR) -> pd.DataFrame:
    """One row per placed object with its S/N and box (see module docstring).

    Columns: ``label, x_min, y_min, x_max, y_max, x, y, snr, detectable``; boxes
    in pixel-edge coordinates, ``x, y`` the flux centroid of the in-image part.
    """
    n_bands, h, w = field.data.shape
    sigma = 1.0 / np.sqrt(n_bands)
    rows = []
    for p in placed:
        mh, mw = p.model.shape[1:]
        r0, c0 = max(p.row0, 0), max(p.col0, 0)
        r1, c1 = min(p.row0 + mh, h), min(p.col0 + mw, w)
        if r0 >= r1 or c0 >= c1:
            continue
        lum = p.model[:, r0 - p.row0 : r1 - p.row0, c0 - p.col0 : c1 - p.col0].mean(axis=0)
        iso = lum >= sigma
        n = int(iso.sum())
        snr = float(lum[iso].sum() / (sigma * np.sqrt(n))) if n else 0.0
        if n == 0:
            continue
        box_iso = lum >= max(sigma, 0.005 * lum.max()) if p.kind == "star" else iso
        rows_i, cols_i = np.nonzero(box_iso)
        wts = lum[iso]
        yy, xx = np.nonzero(iso)
        cx, cy = c0 + float((xx * wts).sum() / wts.sum()), r0 + float((yy * wts).sum() / wts.sum())
        x_min, x_max = c0 + cols_i.min() - 0.5, c0 + cols_i.max() + 0.5
        y_min, y_max = r0 + rows_i.min() - 0.5, r0 + rows_i.max() + 0.5
        x_min, x_max = _widen(x_min, x_max, 4.0, w)
        y_min, y_max = _widen(y_min, y_max, 4.0, h)
        rows.append(dict(label=p.kind, x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max,
                         x=cx, y=cy, snr=snr, detectable=bool(snr >= min_snr and n >= 3)))
    cols = ["label", "x_min", "y_min", "x_max", "y_max", "x", "y", "snr", "detectable"]
    return pd.DataFrame(rows, columns=cols)


def _widen(lo: float, hi: float, least: float, limit: int) -> tuple[float, float]:
    if hi - lo < least:
        mid = (lo + hi) / 2
        lo, hi = mid - least / 2, mid + least / 2
    return max(lo, -0.5), min(hi, limit - 0.5)


# ----------------------------------------------------------------------------- rendering

_COLORMAPS = ("gray", "gray", "gray", "viridis", "inferno", "magma", "cividis", "bone", "hot")


def random_render_settings(rng: np.random.Generator) -> RenderSettings:
    """Any interval and stretch a user could pick in the app, with wide parameters."""
    interval = str(rng.choice(["percentile", "asym_percentile", "asym_percentile", "zscale",
                               "minmax", "manual"], p=[0.2, 0.3, 0.12, 0.2, 0.03, 0.15]))
    stretch = str(rng.choice(["linear", "sqrt", "log", "asinh", "sinh", "power", "histeq"],
                             p=[0.14, 0.16, 0.16, 0.26, 0.04, 0.08, 0.16]))
    a = {"log": _log_uniform(rng, 10, 3000), "asinh": _log_uniform(rng, 0.005, 0.5),
         "sinh": rng.uniform(0.3, 1.0), "power": rng.uniform(0.3, 1.5)}.get(stretch, 0.1)
    lo = rng.uniform(-3.0, 0.5)
    return RenderSettings(
        interval=interval, percent=rng.uniform(98.0, 99.95),
        lower_percent=rng.uniform(0, 40), upper_percent=rng.uniform(99.0, 99.99),
        vmin=lo, vmax=lo + _log_uniform(rng, 8, 300), stretch=stretch, a=a,
        colormap=str(rng.choice(_COLORMAPS)),
        rgb_method="lupton" if rng.random() < 0.25 else "bands",
        lupton_q=rng.uniform(0.5, 15),
    )


def render_scene(field: Field, settings: RenderSettings) -> np.ndarray:
    """The scene as the app would show it: uint8 (H, W, 3) (pedestal handled by the interval)."""
    if settings.interval == "manual":
        pedestal = float(np.median(field.data))
        settings = settings.with_(vmin=settings.vmin + pedestal, vmax=settings.vmax + pedestal)
    return render(field, settings)


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` after JPEG compression (pictures users upload are often JPEGs)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


# ----------------------------------------------------------------------------- dataset

def yolo_lines(truth: pd.DataFrame, width: int, height: int) -> list[str]:
    """YOLO label lines (class cx cy w h, normalised) of the detectable truth rows."""
    lines = []
    for r in truth[truth["detectable"]].itertuples():
        cx = ((r.x_min + r.x_max) / 2 + 0.5) / width
        cy = ((r.y_min + r.y_max) / 2 + 0.5) / height
        bw, bh = (r.x_max - r.x_min) / width, (r.y_max - r.y_min) / height
        lines.append(f"{CLASSES.index(r.label)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return lines


#: Scenes per random stream when a dataset is written by several processes.
CHUNK = 100


def _write_scene(out: Path, part: str, i: int, rng: np.random.Generator, lib: Library, size: int,
                 recipe: SceneRecipe) -> None:
    """Draw, render and write scene ``i`` of ``part`` (image and YOLO label file)."""
    field, placed = make_scene(rng, lib, size=size, split=part, recipe=recipe)
    truth = truth_table(field, placed)
    rgb = render_scene(field, random_render_settings(rng))
    stem = f"{part}_{i:05d}"
    if rng.random() < 0.25:
        Image.fromarray(rgb).save(out / "images" / part / f"{stem}.jpg",
                                  quality=int(rng.integers(60, 96)))
    else:
        Image.fromarray(rgb).save(out / "images" / part / f"{stem}.png")
    (out / "labels" / part / f"{stem}.txt").write_text(
        "\n".join(yolo_lines(truth, size, size)) + "\n")


_WORKER_LIB: Library | None = None  # the library inherited by forked writer processes


def _stream(seed: int, part: str, *chunk: int) -> np.random.Generator:
    """The random stream of a dataset part, or of one chunk of it."""
    return np.random.default_rng([seed, 0 if part == "train" else 1, *chunk])


def _write_chunk(task: tuple) -> int:
    out, part, k, n, seed, size, recipe = task
    rng = _stream(seed, part, k)
    stop = min(n, (k + 1) * CHUNK)
    for i in range(k * CHUNK, stop):
        _write_scene(out, part, i, rng, _WORKER_LIB, size, recipe)
    return stop - k * CHUNK


def write_dataset(out: Path, lib: Library, *, n_train: int, n_val: int, size: int = 320,
                  seed: int = 0, progress_every: int = 200,
                  recipe: SceneRecipe = SceneRecipe(), jobs: int = 1) -> Path:
    """A YOLO dataset under ``out`` (images/, labels/, data.yaml with absolute paths).

    Training images use the library's train cutouts, validation images the
    held-out ones; ``recipe.json`` records the scene recipe.  ``jobs=1`` draws
    every scene of a part from one random stream; ``jobs>1`` draws each block
    of :data:`CHUNK` scenes from its own stream (the same scenes for any number
    of processes above one) in forked processes.  Returns the data.yaml path.
    """
    global _WORKER_LIB
    out = Path(out).resolve()
    for part, n in (("train", n_train), ("val", n_val)):
        (out / "images" / part).mkdir(parents=True, exist_ok=True)
        (out / "labels" / part).mkdir(parents=True, exist_ok=True)
        if jobs > 1:
            import multiprocessing

            _WORKER_LIB = lib
            tasks = [(out, part, k, n, seed, size, recipe) for k in range(-(-n // CHUNK))]
            try:
                with multiprocessing.get_context("fork").Pool(jobs) as pool:
                    done = 0
                    for m in pool.imap_unordered(_write_chunk, tasks):
                        done += m
                        print(f"{part}: {done}/{n} scenes", flush=True)
            finally:
                _WORKER_LIB = None
        else:
            rng = _stream(seed, part)
            for i in range(n):
                _write_scene(out, part, i, rng, lib, size, recipe)
                if progress_every and (i + 1) % progress_every == 0:
                    print(f"{part}: {i + 1}/{n} scenes", flush=True)
    streams = "one per part" if jobs <= 1 else f"one per {CHUNK} scenes"
    (out / "recipe.json").write_text(json.dumps(
        dict(asdict(recipe), n_train=n_train, n_val=n_val, size=size, seed=seed,
             streams=streams), indent=2))
    return _write_yaml(out / "data.yaml", [out])


def _write_yaml(yaml: Path, roots: list[Path]) -> Path:
    lines = [f"path: {roots[0]}", "train:", *(f"  - {r}/images/train" for r in roots),
             "val:", *(f"  - {r}/images/val" for r in roots), "names:",
             *(f"  {i}: {c}" for i, c in enumerate(CLASSES))]
    yaml.write_text("\n".join(lines) + "\n")
    return yaml


def dataset_recipe(root: Path) -> SceneRecipe:
    """The recipe a dataset was built with (``recipe.json``; older datasets without it are standard)."""
    path = Path(root) / "recipe.json"
    if not path.is_file():
        return SceneRecipe()
    stored = json.loads(path.read_text())
    return SceneRecipe(**{f.name: stored[f.name] for f in fields(SceneRecipe)})


def combine_datasets(yaml: Path, roots: list[Path]) -> Path:
    """Write ``yaml``: a YOLO data file training and validating on every dataset in ``roots``."""
    roots = [Path(r).resolve() for r in roots]
    for r in roots:
        if not (r / "images" / "train").is_dir():
            raise GalaxyCoreError(f"{r} is not a dataset written by write_dataset (no images/train)")
    return _write_yaml(Path(yaml), roots)


def heldout_field(seed: int, lib: Library, *, size: int = 2048,
                  density: float = 20.0) -> tuple[Field, pd.DataFrame]:
    """A held-out synthetic field (cutouts never trained on) and its truth table."""
    rng = np.random.default_rng([seed, 7])
    field, placed = make_scene(rng, lib, size=size, split="val", density=density)
    return field, truth_table(field, placed)
