"""Trips: ETA, lateness and stop visits."""
