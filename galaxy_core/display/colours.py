"""One colour per class, shared by the app, the annotated PNG and DS9 regions.

Colour-blind-safe (Okabe & Ito 2008), as hex strings DS9 and Plotly both read.
"""

from __future__ import annotations

from galaxy_core.types import CLASS_NAMES

CLASS_COLOURS: dict[str, str] = dict(
    zip(
        CLASS_NAMES,
        ("#56B4E9", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#F0E442"),
        strict=True,
    )
)
#: Colour of a detection that has no class (sep, or a detector without classifier).
UNCLASSIFIED_COLOUR = "#FFFFFF"


def colour_of(label: str) -> str:
    """The hex colour of a class name; white for any other label."""
    return CLASS_COLOURS.get(label, UNCLASSIFIED_COLOUR)


def rgb_of(label: str) -> tuple[int, int, int]:
    """The colour of a class name as 0-255 integers."""
    h = colour_of(label).lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
