"""Experiments built from fit: compare, sweep (in cells, in process or on Dask), the tuned protocol, statistics."""
