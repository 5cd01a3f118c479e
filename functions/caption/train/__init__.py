"""Training and evaluation of caption models (`python -m caption.train`, `caption.evaluate`)."""
