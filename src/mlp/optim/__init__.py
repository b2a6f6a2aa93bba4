"""Optimizers (hyperparameters and state over flat buffers) and learning-rate schedules."""
