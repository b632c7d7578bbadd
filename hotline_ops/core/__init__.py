"""Pure domain logic: stdlib and dataclasses only. ``now`` is always a parameter."""
