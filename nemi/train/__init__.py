"""The train stage: RTD-Net through a schedule's stages (nemi.train.run), its params (nemi.train.params).

Importing this package or ``nemi.train.params`` imports no torch, so the workflow can check a config's
``train`` section while it plans the DAG.
"""

VERSION = 1  # bump when what `nemi train` writes changes meaning
