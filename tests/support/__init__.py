"""Helpers shared by the test suites (broker, worker process, topic readers)."""
