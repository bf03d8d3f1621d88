"""The train stage: RTD-Net fine-tuned on a dataset's annotations (nemi.train.data, nemi.train.run), through
the training loop every fitting stage shares (nemi.fit; its params, nemi.fit.params).

Importing this package imports no torch, so the workflow can use it while it plans the DAG.
"""

VERSION = 1  # bump when what `nemi train` writes changes meaning
