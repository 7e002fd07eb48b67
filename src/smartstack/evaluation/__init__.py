"""Rankers judged on logged traffic: off-policy estimates, A/B and interleaving readouts, the
shadow readout, and (synthetic data only) the simulator and the truth they are checked against.

The estimators, the assignment and the interleaving themselves live in
:mod:`smartstack.experiments`, which imports nothing of the platform; this package reads the
logs, the feature store and the registry to feed them.
"""
