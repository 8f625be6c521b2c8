ANSWER = 42  # a module with no optimiser in it
