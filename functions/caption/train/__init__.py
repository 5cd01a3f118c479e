"""Training, export and the seed checkpoint's conversion: PyTorch lives here and nowhere that
serves. networks (the PyTorch networks and their weights), stages (each stage of `make train`
with its command line: `python -m caption.train` is the first), export (the graphs that
serve)."""
