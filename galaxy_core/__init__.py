"""galaxy_core: Hubble fields in, galaxies detected and classified out.

All science and ML of the project lives here; the Streamlit app in ``app/``
only calls it.  Start from :mod:`galaxy_core.pipeline` for the end-to-end
path, :mod:`galaxy_core.io.load` for reading files and :mod:`galaxy_core.display.render`
for FITS-to-RGB.
"""

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import CLASS_NAMES, Detection, Field

__all__ = ["CLASS_NAMES", "Detection", "Field", "GalaxyCoreError"]
__version__ = "0.1.0"
