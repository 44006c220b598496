"""Batch inference: categorize whole transaction files, on this machine or a Ray cluster."""
