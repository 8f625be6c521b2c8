"""Benchmark problems, suites and performance profiles (issue 23)."""
