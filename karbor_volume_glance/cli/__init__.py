"""The ``karbor-volume-glance`` command (see :mod:`.commands`)."""

from karbor_volume_glance.cli.commands import main

__all__ = ["main"]
