"""Analyses: diagnostics built on the indicator table (housing, market…)."""
