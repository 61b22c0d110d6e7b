"""Many fields, or whole mosaics, on a Dask cluster: one catalogue, nothing lost.

- :mod:`~galaxy_core.survey.specs`: which fields a batch names (files, globs, ``@list.txt``,
  three bands as ``r.fits,g.fits,b.fits``).
- :mod:`~galaxy_core.survey.work`: what a worker does with one field, or one window of a mosaic.
- :mod:`~galaxy_core.survey.parts`: a part file per finished field, resume, the lock, the merged
  catalogue and its summary.
- :mod:`~galaxy_core.survey.runner`: the run on a LocalCluster or an existing scheduler.
"""
