"""Two-stream I3D snippet features: optical flow, the I3D network and its weights, extraction, import, shards."""
