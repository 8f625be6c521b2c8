"""The training loop: fit, its history and the parts it is made of."""
