"""Test helpers shared by tests and benchmarks: local servers standing in for real services."""
