"""Train and eval transform presets of the morphology classifier (torchvision v2).

Inputs are already scale-normalised crops (:mod:`galaxy_core.morphology.framing`) as
uint8 tensors (3, H, W) or uint8 arrays (H, W, 3).  The train preset holds the
seed project's augmentations (rotation, horizontal and vertical flip, colour
jitter, random perspective) plus survey bridging: a small scale/offset jitter,
greyscale, blur, resolution loss and pixel noise, since the app classifies HST
crops while most training images are SDSS colour JPEGs and the star cutouts
are grey ground-based images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from galaxy_core.morphology.framing import sky_border_px

#: Default normalisation (measured on the training cache; the checkpoint stores its own).
DEFAULT_MEAN = (0.09, 0.08, 0.07)
DEFAULT_STD = (0.13, 0.12, 0.11)


def to_tensor_u8(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (H, W, 3) array or (3, H, W) tensor -> uint8 tensor (3, H, W)."""
    if isinstance(image, torch.Tensor):
        return image
    arr = np.ascontiguousarray(image)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


class SkyRotation:
    """Rotation by a uniform random angle in [-degrees, degrees]; corners filled with the border median."""

    def __init__(self, degrees: float = 180.0) -> None:
        self.degrees = degrees

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        angle = float(torch.empty(1).uniform_(-self.degrees, self.degrees))
        border = torch.cat([img[:, 0], img[:, -1], img[:, :, 0], img[:, :, -1]], dim=1)
        fill = border.float().median(dim=1).values.tolist()
        return F.rotate(img, angle, interpolation=v2.InterpolationMode.BILINEAR, fill=fill)

    def __repr__(self) -> str:
        return f"SkyRotation(degrees={self.degrees})"


class ResolutionLoss:
    """Down-sample by a random factor in [low, high] and back (a coarser survey's pixels)."""

    def __init__(self, low: float = 1.5, high: float = 4.0) -> None:
        self.low, self.high = low, high

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        f = float(torch.empty(1).uniform_(self.low, self.high))
        small = F.resize(img, [max(4, int(h / f)), max(4, int(w / f))], antialias=True)
        return F.resize(small, [h, w], antialias=True)

    def __repr__(self) -> str:
        return f"ResolutionLoss(low={self.low}, high={self.high})"


class DistantGalaxy:
    """The framed galaxy as a distant one in a field: PSF blur, coarse pixels, back to size.

    A framed crop shows its galaxy about ``fill`` of the side across.  This
    draws a size N in [``low``, ``high``] px (log-uniform) and a Gaussian PSF
    FWHM in ``psf_fwhm_px`` (px at that size), blurs, area-averages the crop
    down until the galaxy spans N px and resizes it back, as framing enlarges
    a small detection's crop (see ``bench/bench_resolution.py``).

    ``snr`` = (low, high) also adds sky noise at the small size, as faint
    distant galaxies have: Gaussian, per pixel and channel, of sigma = the
    galaxy's peak luminance above sky / S/N, S/N log-uniform in the range.
    Upsizing then correlates it, as framing does in the app.
    """

    def __init__(self, low: float = 12.0, high: float = 48.0, *, fill: float = 0.6,
                 psf_fwhm_px: tuple[float, float] = (1.0, 2.5),
                 snr: tuple[float, float] | None = None) -> None:
        self.low, self.high, self.fill, self.psf_fwhm_px = low, high, fill, psf_fwhm_px
        self.snr = snr

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        size = float(np.exp(torch.empty(1).uniform_(np.log(self.low), np.log(self.high))))
        scale = size / (self.fill * min(h, w))
        if scale >= 1.0:
            return img
        fwhm = float(torch.empty(1).uniform_(*self.psf_fwhm_px))
        sigma = fwhm / 2.3548 / scale  # in input px
        blurred = F.gaussian_blur(img, [2 * int(3 * sigma) + 1] * 2, [sigma, sigma])
        small = F.resize(blurred, [max(3, round(h * scale)), max(3, round(w * scale))], antialias=True)
        if self.snr is not None:
            small = self._sky_noise(small)
        return F.resize(small, [h, w], antialias=True)

    def _sky_noise(self, small: torch.Tensor) -> torch.Tensor:
        full = 255.0 if small.dtype == torch.uint8 else 1.0
        x = small.float()
        b = sky_border_px(x.shape[-2:])
        border = torch.cat([x[:, :b].flatten(1), x[:, -b:].flatten(1),
                            x[:, :, :b].flatten(1), x[:, :, -b:].flatten(1)], dim=1)
        sky = border.median(dim=1).values.view(-1, 1, 1)
        peak = max(float((x - sky).mean(0).max()), full / 255.0)
        snr = float(np.exp(torch.empty(1).uniform_(np.log(self.snr[0]), np.log(self.snr[1]))))
        x = (x + torch.randn_like(x) * (peak / snr)).clamp_(0.0, full)
        return x.round_().to(torch.uint8) if small.dtype == torch.uint8 else x

    def __repr__(self) -> str:
        return (f"DistantGalaxy(low={self.low}, high={self.high}, fill={self.fill}, "
                f"psf_fwhm_px={self.psf_fwhm_px}, snr={self.snr})")


class PixelNoise:
    """Gaussian noise of a random sigma in [0, max_sigma] (float image in [0, 1]), clipped."""

    def __init__(self, max_sigma: float = 0.04) -> None:
        self.max_sigma = max_sigma

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        sigma = float(torch.empty(1).uniform_(0.0, self.max_sigma))
        return (img + sigma * torch.randn_like(img)).clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return f"PixelNoise(max_sigma={self.max_sigma})"


def train_components(size: int, *, distant_p: float = 0.0,
                     distant_snr: tuple[float, float] | None = None) -> dict[str, Callable]:
    """The train preset's named steps, uint8 (3, H, W) in; the last ones work on float.

    ``distant_p`` > 0 adds :class:`DistantGalaxy` with that probability (after
    the resolution loss); 0 keeps the preset that stages 1-9 trained with.
    ``distant_snr`` gives it sky noise (see :class:`DistantGalaxy`; None: none, as
    stage 10; stage 11 trained with (4, 100)).
    """
    steps = {
        "rotation": SkyRotation(180.0),
        "hflip": v2.RandomHorizontalFlip(0.5),
        "vflip": v2.RandomVerticalFlip(0.5),
        "scale": v2.RandomAffine(degrees=0.0, translate=(0.04, 0.04), scale=(0.85, 1.18)),
        "perspective": v2.RandomPerspective(distortion_scale=0.25, p=0.3),
        "colour_jitter": v2.RandomApply([v2.ColorJitter(0.35, 0.35, 0.4, 0.04)], p=0.8),
        "greyscale": v2.RandomGrayscale(p=0.25),
        "blur": v2.RandomApply([v2.GaussianBlur(5, sigma=(0.3, 1.5))], p=0.25),
        "resolution": v2.RandomApply([ResolutionLoss(1.5, 3.0)], p=0.2),
        "distant": v2.RandomApply([DistantGalaxy(snr=distant_snr)], p=distant_p),
        "resize": v2.Resize([size, size], antialias=True),
        "to_float": v2.ToDtype(torch.float32, scale=True),
        "noise": v2.RandomApply([PixelNoise(0.04)], p=0.3),
    }
    if distant_p <= 0:
        del steps["distant"]
    return steps


def train_transforms(size: int, *, mean: Sequence[float] = DEFAULT_MEAN,
                     std: Sequence[float] = DEFAULT_STD, distant_p: float = 0.0,
                     distant_snr: tuple[float, float] | None = None) -> v2.Compose:
    """Augmenting preset: uint8 (3, H, W) framed crop -> normalised float (3, size, size)."""
    steps = list(train_components(size, distant_p=distant_p, distant_snr=distant_snr).values())
    return v2.Compose([*steps, v2.Normalize(list(mean), list(std))])


def eval_transforms(size: int, *, mean: Sequence[float] = DEFAULT_MEAN,
                    std: Sequence[float] = DEFAULT_STD) -> v2.Compose:
    """Deterministic preset: uint8 (3, H, W) framed crop -> normalised float (3, size, size)."""
    return v2.Compose([v2.Resize([size, size], antialias=True), v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(list(mean), list(std))])


def no_aug_transforms(size: int, *, mean: Sequence[float] = DEFAULT_MEAN,
                      std: Sequence[float] = DEFAULT_STD) -> v2.Compose:
    """The ablation's 'without augmentation' preset (same as eval)."""
    return eval_transforms(size, mean=mean, std=std)


def preview_augmentations(img: np.ndarray, size: int, seed: int = 0, *, distant_p: float = 0.0,
                          distant_snr: tuple[float, float] | None = None) -> list[tuple[str, np.ndarray]]:
    """Views of one framed crop through single train components, for the app's preview.

    Args:
        img: uint8 (H, W, 3) framed crop.
        size: the network's input size, px (the views are resized to it).
        seed: torch seed of the random draws.
        distant_p: the full preset's :class:`DistantGalaxy` probability (pass
            the classifier's own, :attr:`Classifier.train_distant_p`).
        distant_snr: its sky-noise S/N range (:attr:`Classifier.train_distant_snr`).

    Returns:
        (name, uint8 (size, size, 3)) pairs: the original, then rotated, flipped,
        colour-jittered, perspective-warped, greyscale, blurred, low-resolution,
        far away (:class:`DistantGalaxy`), noisy and the full train preset's
        random draw (without normalisation).
    """
    comps = train_components(size, distant_p=1.0, distant_snr=distant_snr)  # each step is forced below
    src = to_tensor_u8(img)
    gen_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        resize = comps["resize"]
        views: list[tuple[str, torch.Tensor]] = [("original", resize(src))]
        # The preset's own steps, with their probability of being applied set to 1.
        comps["hflip"].p = 1.0
        comps["perspective"].p = 1.0
        comps["greyscale"].p = 1.0
        forced = {
            "rotated": comps["rotation"],
            "flipped": comps["hflip"],
            "colour-jittered": comps["colour_jitter"].transforms[0],
            "perspective-warped": comps["perspective"],
            "greyscale": comps["greyscale"],
            "blurred": comps["blur"].transforms[0],
            "low-resolution": comps["resolution"].transforms[0],
            "far away": comps["distant"].transforms[0],
        }
        for name, step in forced.items():
            views.append((name, resize(step(src))))
        noisy = comps["noise"].transforms[0](comps["to_float"](resize(src)))
        views.append(("noisy", noisy))
        full = v2.Compose(list(train_components(size, distant_p=distant_p,
                                                distant_snr=distant_snr).values()))(src)
        views.append(("train preset", full))
    finally:
        torch.set_rng_state(gen_state)
    out = []
    for name, t in views:
        if t.dtype != torch.uint8:
            t = (t.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
        out.append((name, t.permute(1, 2, 0).numpy().copy()))
    return out
