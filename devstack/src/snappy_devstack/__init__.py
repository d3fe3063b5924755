"""Snappy developer tooling: backing services and the `snappy` command."""
