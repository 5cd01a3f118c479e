"""The stages of `make train`, each a command (`python -m caption.train.stages.NAME`): the
decoder's training (cross-entropy, self-critical, distillation), the word detectors, the
sentence writer, and the measurements that choose the decoding's settings."""
