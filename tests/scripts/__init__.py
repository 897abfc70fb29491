"""Runnable scripts the tests drive in subprocesses."""
