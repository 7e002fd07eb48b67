"""Ranking logic shared by training (as a baseline) and serving (as the fallback)."""
