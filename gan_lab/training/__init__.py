"""Training: Model subclasses with train_step, losses, callbacks, checkpoints, runs."""
