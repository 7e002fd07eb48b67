"""Training, evaluation, registration and gated promotion of the XGBoost offer ranker."""
