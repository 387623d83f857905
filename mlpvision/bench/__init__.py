"""Benchmarks: timm's measurement method as functions, side-by-side comparisons, sweeps and the docs page."""
