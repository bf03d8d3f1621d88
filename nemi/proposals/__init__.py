"""The proposals stage: a trained RTD-Net over a dataset's test windows -> ``video_id,t_start,t_end,score``."""

from nemi.proposals.run import VERSION, ProposalParams, merge_windows, write_proposals

__all__ = ["VERSION", "ProposalParams", "merge_windows", "write_proposals"]
