"""Windows on RTD-Net's step grid: index records built once, features sliced on access.

The reference is RTD-Action (MCG-NJU, ``main`` @ a1b357e), ``datasets/thumos14.py``.

Four modules, each importing only those above it:

- ``grid``: the step grid (``WindowParams``, the grid a model file records), window starts, and the
  conversions between seconds, cells and window units.
- ``prior``: a video's boundary scores on its step grid, and their min-max normalisation per window.
- ``steps``: one video on its step grid (``VideoSteps``): its feature rows, scores and segments, the
  rescaled grid's resampling included.
- ``dataset``: the windows of a split as index records (``build_windows``, ``WindowDataset``), and the
  collate functions that batch them.
"""
