"""Benchmarks: print numbers measured in one run, never timed assertions."""
