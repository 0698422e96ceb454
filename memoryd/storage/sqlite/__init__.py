"""The embedded default: every storage role in one SQLite file."""
