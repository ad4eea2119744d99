"""Observatoire: a reproducible territorial observatory for French planning agencies."""

__version__ = "0.1.0"
