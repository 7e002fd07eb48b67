"""Smart Stack: personalized, explained credit-card offers in real time."""

__version__ = "0.1.0"
