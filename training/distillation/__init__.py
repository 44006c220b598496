"""Distillation: the student models, their data, the training loop and its run directory."""
