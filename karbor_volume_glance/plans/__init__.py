"""Plans: several volumes protected together, from a YAML plan file.

A plan (:mod:`.model`, validated by :mod:`.schema`) names a bank, the sites
it runs at (clouds.yaml names) and the volumes it protects, each with its
protect and restore options. ``plan protect`` makes one checkpoint holding
every volume of the plan (:mod:`.protection`), ``plan restore`` restores a
checkpoint's volumes at any site (:mod:`.restoration`); both run the volumes
on a bounded taskflow parallel engine (:mod:`.engine`), where one volume
failing does not stop the others. ``plan list`` finds the plan's checkpoints
through the bank's by-plan index (:mod:`.catalog`) and ``plan prune`` keeps
the newest of them (:mod:`.retention`).

Nothing here parses a command line or prints: the CLI
(:mod:`karbor_volume_glance.cli.commands`) does that.
"""

from karbor_volume_glance.plans.errors import PlanError
from karbor_volume_glance.plans.model import Plan, PlanResource, Site, load

__all__ = ["Plan", "PlanError", "PlanResource", "Site", "load"]
