"""Decoding: videos -> frames on a fixed timeline, resized, in one HDF5 shard per group of videos."""

from nemi.decode.shard import DecodeParams, decode_shard
from nemi.decode.timeline import SourceStats, iter_timeline, timeline_frame_count

__all__ = ["DecodeParams", "SourceStats", "decode_shard", "iter_timeline", "timeline_frame_count"]
