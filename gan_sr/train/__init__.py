"""Trainers: shared loop machinery and one module per kind of run."""
