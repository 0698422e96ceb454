"""Hostile input: schemathesis fuzzing of the REST API and hypothesis property tests."""
