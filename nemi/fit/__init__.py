"""The training loop the model-fitting stages share (``nemi train``, ``nemi pretrain``).

``nemi.fit.params`` (TrainParams, the schedule's stages) imports no torch, so the workflow can check
a config while it plans the DAG; ``nemi.fit.loop.fit`` trains; ``nemi.fit.state`` holds what a
killed run needs to resume.
"""
