"""Engagement: weekly streaks, badges and achievements, the monthly quiz, and the guardrail
that keeps rewards off rising spend. Rules and questions are data (``engagement/``); the state
lives in an embedded SQLite file locally and in Redis in production."""
