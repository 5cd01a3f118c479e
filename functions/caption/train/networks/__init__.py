"""The PyTorch networks and what they load from: the encoders, the attention decoder and its
step's ranking, the checkpoint's weights, the published weights, the ImageNet labels, and the
networks as a Captioner's parts."""
