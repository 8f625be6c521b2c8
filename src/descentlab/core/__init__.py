"""The network and its exact gradient: parameters, activations, the objective and its engines, the gradient check."""
