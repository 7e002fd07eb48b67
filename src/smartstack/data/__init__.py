"""Synthetic data and raw-table contracts."""
