"""File formats at the edge: model files, checkpoints, ONNX, atomic writes. Nothing here imports training."""
