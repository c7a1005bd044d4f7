"""Quorum: put one question to a panel of language models and watch them deliberate."""

__version__ = "0.1.0"
