"""Helpers shared by tests: content writers and real local peers."""
