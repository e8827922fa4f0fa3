"""Training: collation, reward forward passes, the trainer loop, checkpoints, curves and the model card."""
