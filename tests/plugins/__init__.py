"""Plugins used by the tests: each is loaded the way an entry point is."""
