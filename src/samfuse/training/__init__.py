"""Training: the shared loop, profiles and each method's losses (``samfuse.training.losses``)."""
