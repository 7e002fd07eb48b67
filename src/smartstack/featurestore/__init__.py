"""Feast: the feature store that serves the same features to training (offline, point in time)
and to the ranking service (online)."""
