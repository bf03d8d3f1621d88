"""Pseudo labels: change curves -> activities (content-consistent fragments) per video."""
