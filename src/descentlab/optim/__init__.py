"""The optimisers: each one a class with its hyper-parameters, state and update rule."""
