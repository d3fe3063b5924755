"""Helpers for the reliability tests: load generators, a TCP switch, stacks and checks."""
