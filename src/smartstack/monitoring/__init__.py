"""Watching the platform in production: feature and score drift against the champion's
training reference, the freshness of the online store, the stream and the champion, and live
outcomes per model, tier, experiment arm and segment (docs/monitoring.md)."""
