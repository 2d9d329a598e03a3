"""Helpers and fixtures the test modules share (test-only; ``testkit`` holds what benchmarks
share too). A test module imports from here, never from another test module."""
