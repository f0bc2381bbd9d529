"""Tests of the local cloud (karbor_volume_glance.testing.localcloud)."""
