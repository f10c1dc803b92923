"""Benchmarks of the stages (newsflow bench ...)."""
