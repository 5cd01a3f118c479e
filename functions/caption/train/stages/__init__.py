"""The stages of `make train`, each a command (`python -m caption.train.stages.NAME`): the
image decoder's training (cross-entropy, self-critical, distillation), the word detectors, the
one captioner's (photo evidence, cross-entropy from the image decoder, self-critical with bags),
and the measurements that choose the decoding's settings."""
