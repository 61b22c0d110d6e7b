"""How pixel values become a picture: the settings object and the names it accepts.

An *interval* picks the pixel values that map to black and white; a *stretch*
maps [0, 1] to [0, 1] non-linearly (both are ``astropy.visualization``'s
objects, made by :mod:`galaxy_core.display.scaling`).  One band becomes grey or
goes through a matplotlib colormap; three bands go through the ``make_rgb``
scheme (limits per band, the same stretch on each) or ``make_lupton_rgb``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from galaxy_core.errors import GalaxyCoreError

INTERVALS = ("percentile", "asym_percentile", "minmax", "zscale", "manual")
STRETCHES = ("linear", "sqrt", "log", "asinh", "sinh", "power", "histeq")
RGB_METHODS = ("bands", "lupton")

#: The stretch parameter ``a`` used when RenderSettings.a is None, per stretch.
DEFAULT_A = {"asinh": 0.02, "log": 1000.0, "sinh": 1.0 / 3.0, "power": 0.3}


@dataclass(frozen=True)
class RenderSettings:
    """How pixel values become an RGB picture.

    Attributes:
        interval: one of INTERVALS.
        percent: central percentage kept by ``"percentile"`` (e.g. 99.5).
        lower_percent, upper_percent: limits of ``"asym_percentile"`` (0..100).
        vmin, vmax: limits of ``"manual"``, in pixel units.
        stretch: one of STRETCHES.
        a: the stretch's parameter (asinh/sinh/log ``a``, power exponent), > 0;
            None for the stretch's default (DEFAULT_A).  Ignored by linear,
            sqrt and histeq.
        colormap: matplotlib colormap name for one band (``"gray"`` for grey).
        rgb_method: ``"bands"`` (make_rgb) or ``"lupton"`` (make_lupton_rgb) for three bands.
        lupton_q, lupton_stretch, lupton_minimum: make_lupton_rgb's Q, stretch
            (pixel units) and minimum (pixel units); None means "from the data":
            minimum = the lowest band's ``lower_percent`` percentile, stretch = the
            largest band span up to its ``upper_percent`` percentile.
    """

    interval: str = "asym_percentile"
    percent: float = 99.5
    lower_percent: float = 20.0
    upper_percent: float = 99.95
    vmin: float | None = None
    vmax: float | None = None
    stretch: str = "asinh"
    a: float | None = None
    colormap: str = "gray"
    rgb_method: str = "bands"
    lupton_q: float = 8.0
    lupton_stretch: float | None = None
    lupton_minimum: float | None = None

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise GalaxyCoreError(f"Unknown interval {self.interval!r}; choose one of {INTERVALS}.")
        if self.stretch not in STRETCHES:
            raise GalaxyCoreError(f"Unknown stretch {self.stretch!r}; choose one of {STRETCHES}.")
        if self.rgb_method not in RGB_METHODS:
            raise GalaxyCoreError(f"Unknown RGB method {self.rgb_method!r}; choose one of {RGB_METHODS}.")
        if self.interval == "manual":
            if self.vmin is None or self.vmax is None:
                raise GalaxyCoreError("A manual interval needs both vmin and vmax.")
            if not (np.isfinite(self.vmin) and np.isfinite(self.vmax) and self.vmin < self.vmax):
                raise GalaxyCoreError(
                    f"A manual interval needs finite vmin < vmax (got {self.vmin}, {self.vmax})."
                )
        if not 0 < self.percent <= 100:
            raise GalaxyCoreError(f"The percentile must be in (0, 100] (got {self.percent}).")
        if not 0 <= self.lower_percent < self.upper_percent <= 100:
            raise GalaxyCoreError(
                "Percentiles must satisfy 0 <= lower < upper <= 100 "
                f"(got {self.lower_percent}, {self.upper_percent})."
            )
        if self.a is not None and not (np.isfinite(self.a) and self.a > 0):
            raise GalaxyCoreError(f"The stretch parameter a must be > 0 (got {self.a}).")
        if not (np.isfinite(self.lupton_q) and self.lupton_q >= 0):
            raise GalaxyCoreError(f"Lupton Q must be >= 0 (got {self.lupton_q}).")
        if self.lupton_stretch is not None and not self.lupton_stretch > 0:
            raise GalaxyCoreError(f"Lupton stretch must be > 0 (got {self.lupton_stretch}).")

    @property
    def stretch_a(self) -> float:
        """The stretch parameter in effect (``a`` or the stretch's default)."""
        return self.a if self.a is not None else DEFAULT_A.get(self.stretch, 1.0)

    def with_(self, **changes) -> RenderSettings:
        """A copy with some fields changed (validated again).

        Changing the stretch without giving ``a`` resets ``a`` to None (the new
        stretch's default): an asinh ``a`` means nothing to log or power.
        """
        if changes.get("stretch", self.stretch) != self.stretch and "a" not in changes:
            changes["a"] = None
        return replace(self, **changes)


#: What a colour or grey picture (PNG/JPEG/TIFF) is rendered with by default: as it is.
PICTURE_SETTINGS = RenderSettings(interval="manual", vmin=0.0, vmax=1.0, stretch="linear")
