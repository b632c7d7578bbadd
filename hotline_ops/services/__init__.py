"""Use cases: read the clock once, call core, persist, call adapters."""
