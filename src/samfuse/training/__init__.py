"""Training of the fusion networks: losses (``samfuse.training.losses``) and the training loop."""
