"""``python -m galaxy_core``: the command-line interface (see galaxy_core.cli).

The guard matters: a batch's Dask workers are spawned processes that import this
module again, and must not run the command line themselves.
"""

import sys

from galaxy_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
