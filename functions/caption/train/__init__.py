"""Training, export and the seed checkpoint's conversion (`python -m caption.train`,
`python -m caption.train.export`): PyTorch lives here and nowhere that serves."""
