"""Artifact I/O shared by every stage: atomic writes, provenance, the time base."""
