"""How a field's pixels become the RGB picture that people and models see.

- :mod:`~galaxy_core.display.settings`: :class:`RenderSettings` and the interval,
  stretch and RGB names it accepts.
- :mod:`~galaxy_core.display.scaling`: the astropy interval and stretch objects, band limits.
- :mod:`~galaxy_core.display.defaults`: the stretch a field opens with (fitted to its sky).
- :mod:`~galaxy_core.display.render`: the renderer (a look-up table per band, Lupton RGB).
- :mod:`~galaxy_core.display.preview`: downsampled fields for quick previews.
- :mod:`~galaxy_core.display.colours`, :mod:`~galaxy_core.display.annotate`: class
  colours, boxes burnt into a PNG.
"""

from galaxy_core.display.defaults import NOISE_LEVEL, default_settings, lupton_q_matching, sky_level
from galaxy_core.display.preview import block_mean, downsample, preview_scale, render_preview
from galaxy_core.display.render import render
from galaxy_core.display.scaling import band_limits, make_interval, make_stretch, normalise_band
from galaxy_core.display.settings import (
    DEFAULT_A,
    INTERVALS,
    PICTURE_SETTINGS,
    RGB_METHODS,
    STRETCHES,
    RenderSettings,
)

__all__ = [
    "DEFAULT_A", "INTERVALS", "NOISE_LEVEL", "PICTURE_SETTINGS", "RGB_METHODS", "STRETCHES",
    "RenderSettings", "band_limits", "block_mean", "default_settings", "downsample",
    "lupton_q_matching", "make_interval", "make_stretch", "normalise_band", "preview_scale",
    "render", "render_preview", "sky_level",
]
