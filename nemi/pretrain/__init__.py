"""The pretrain stage: NEMI's self-supervised pretraining of RTD-Net on pseudo activities.

``nemi.pretrain.data`` is its data source (pseudo labels as targets, re-assembled windows),
``nemi.pretrain.params`` its switches, ``nemi.pretrain.run`` hands both to the training loop every
fitting stage shares (``nemi.fit``). Importing this package or its params imports no torch.
"""

VERSION = 1  # bump when what `nemi pretrain` writes changes meaning
