"""The proposals stage: a method's proposals for a dataset's test split -> ``video_id,t_start,t_end,score``.

Two methods: a trained RTD-Net over the test windows (``nemi.proposals.run``, torch), and multi-scale
sliding windows, which learn nothing (``nemi.proposals.sliding``: the tables' floor). This package
exports only what the workflow reads.
"""

from nemi.proposals.params import SLIDING_WINDOW_VERSION, VERSION, ProposalParams, SlidingWindowParams

__all__ = ["SLIDING_WINDOW_VERSION", "VERSION", "ProposalParams", "SlidingWindowParams"]
