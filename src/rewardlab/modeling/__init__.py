"""Model and tokenizer resolution (embedded model, local folder, hub id), pad/BOS handling, reward heads."""
