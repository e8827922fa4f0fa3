"""What every kind's fit shares, below the kinds and above the models: the deterministic data order and
micro-batch plan (`batching`), the optimizer, its learning-rate schedule and the seed (`optim`)."""
