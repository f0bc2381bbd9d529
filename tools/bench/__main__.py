"""Entry point of ``python -m tools.bench``.

Without ``--one-case`` this is the parent (it runs every case, each in a child
process); with it, a child that protects and restores one volume. With
``--compare karbor`` it runs :mod:`.karbor_compare` instead of the cases.
"""

import sys

from tools.bench import child, options, parent


def main(argv=None):
    args = options.parse_args(argv)
    if args.one_case:
        return child.main(args.one_case)
    if args.compare:
        from tools.bench import karbor_compare

        return karbor_compare.main(args, sys.stdout, sys.stderr)
    return parent.main(args)


if __name__ == "__main__":
    sys.exit(main())
