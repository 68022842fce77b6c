"""Test package (lets test modules import the shared strategies as tests.strategies)."""
