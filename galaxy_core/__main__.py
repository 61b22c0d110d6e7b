"""``python -m galaxy_core``: the command-line interface (see galaxy_core.cli)."""

import sys

from galaxy_core.cli import main

sys.exit(main())
