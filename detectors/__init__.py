"""Detectors: the pure detector core and the Faust worker around it."""
