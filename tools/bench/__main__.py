"""Entry point of ``python -m tools.bench``.

Without ``--one-case`` this is the parent (it runs every case, each in a child
process); with it, a child that protects and restores one volume.
"""

import sys

from tools.bench import child, options, parent


def main(argv=None):
    args = options.parse_args(argv)
    if args.one_case:
        return child.main(args.one_case)
    return parent.main(args)


if __name__ == "__main__":
    sys.exit(main())
