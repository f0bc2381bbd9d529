"""karbor-volume-glance: protect Cinder volumes through Glance into a bank.

The package is a Karbor-style protection plugin (:mod:`.plugin`) that also runs
on its own. See README.rst for the picture of its parts.
"""

__all__ = ["__version__"]

try:  # the installed distribution's version, one source of truth: setup.cfg
    from importlib.metadata import version as _version

    __version__ = _version("karbor-volume-glance")
except Exception:  # pragma: no cover - running from a tree that is not installed
    __version__ = "0.0.0"
