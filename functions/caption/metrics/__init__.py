"""How good the captions are, without PyTorch: BLEU and CIDEr-D, "names the subject", what a
caption invents (CHAIR, places) or breaks (sentence faults), the detector's presence, the data
sets they read, and `python -m caption.metrics.evaluate`, which scores a bundle with them. Not in
the image; nothing that serves imports it."""
