"""Unit tests of the on-bank format package."""
