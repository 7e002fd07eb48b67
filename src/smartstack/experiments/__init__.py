"""Experiments on live traffic: the experiments file, deterministic assignment, readout checks."""
