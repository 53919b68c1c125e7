"""Journeys: multi-step customer flows (entry, waits, branches, actions, stages, next best action)."""
