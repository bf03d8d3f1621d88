"""The proposals stage: a trained RTD-Net over a dataset's test windows -> ``video_id,t_start,t_end,score``.

The work is in ``nemi.proposals.run`` (torch); this package exports only what the workflow reads.
"""

from nemi.proposals.params import VERSION, ProposalParams

__all__ = ["VERSION", "ProposalParams"]
