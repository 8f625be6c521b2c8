"""Data: the CSV reader, datasets, the split and standardisation; the embedded Iris data."""
