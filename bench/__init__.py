"""Benchmarks: run with `make bench`. They measure; they never gate the test suite."""
