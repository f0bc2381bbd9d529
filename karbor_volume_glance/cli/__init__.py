"""The ``karbor-volume-glance`` command (see :mod:`.commands`).

:func:`main` is the console script's entry: :func:`.commands.main`, then
:func:`gc.freeze` before the interpreter ends. Python's last collection at
exit walks every object the process still holds (the modules of the
clients, oslo and taskflow: hundreds of thousands); frozen, they are left
to the process's end, which frees them at once. That is most of a second
of CPU per command on a busy machine, on the wall time of every command
(and of ``plan protect`` waiting for its conductors). Callers in process
(the tests) use :func:`.commands.main`, which freezes nothing.
"""

import gc

from karbor_volume_glance.cli import commands

__all__ = ["main"]


def main(argv=None):
    """Run the command line; its exit status."""
    try:
        return commands.main(argv)
    finally:
        gc.freeze()  # the process ends next: no collection of what it holds
