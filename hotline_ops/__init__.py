"""hotline-ops: service assurance for a 12345 government-service hotline."""

__version__ = "0.1.0"
