"""Write doc/options.rst, the options reference, from the oslo.config options.

Run ``python tools/options_doc.py`` after changing an option; a unit test
(tests/unit/test_conf.py) fails while the page differs from what the options
give. The page renders every group of ``karbor_volume_glance.conf.list_opts``
(the entry point oslo-config-generator reads) the way oslo.config's Sphinx
extension would, in plain reStructuredText: the option, its type, default,
bounds or choices, and its help.
"""

import pathlib
import sys
import textwrap

from karbor_volume_glance import conf

PAGE = pathlib.Path(__file__).resolve().parents[1] / "doc" / "options.rst"
COMMAND = "python tools/options_doc.py"

HEADER = f"""\
=======
Options
=======

.. This page is generated from the options themselves
   (karbor_volume_glance.conf.list_opts): do not edit it, run
   ``{COMMAND}``.

The plugin reads these options from the ConfigOpts it is built with: inside
Karbor, the provider file (``providers.d/*.conf``); standalone, the file given
with ``--config-file``. An invalid value fails when the plugin is built, with
an error naming the option. ``oslo-config-generator --namespace
karbor_volume_glance`` prints a sample file of the same options (add
``--namespace oslo.messaging`` for ``[oslo_messaging_notifications]`` and the
transport).
"""


def _literal(value):
    return f"``{value}``" if value not in ("", None) else "(none)"


def _fields(opt):
    """The field list of one option: type, default, bounds, choices."""
    kind = opt.type.type_name + (", secret" if opt.secret else "")
    defaults = opt.type.format_defaults(opt.default, opt.sample_default)
    yield f":Type: {kind}"
    yield f":Default: {', '.join(_literal(value) for value in defaults) or '(none)'}"
    for field, name in (("Minimum", "min"), ("Maximum", "max")):
        bound = getattr(opt.type, name, None)
        if bound is not None:
            yield f":{field}: ``{bound}``"
    choices = getattr(opt.type, "choices", None)
    if choices:
        yield ":Choices:"
        for choice, meaning in choices.items():
            yield f"   - {_literal(choice)}" + (f": {meaning}" if meaning else "")


def _option(opt):
    yield f"``{opt.dest}``"
    for line in _fields(opt):
        yield "   " + line
    yield ""
    yield from textwrap.wrap(opt.help, 76, initial_indent="   ",
                             subsequent_indent="   ", break_on_hyphens=False)
    yield ""


def render():
    """The page's text for the options as they are now."""
    lines = [HEADER]
    for group, opts in conf.list_opts():
        title = f"``[{group}]``"
        lines += [title, "=" * len(title), ""]
        for opt in opts:
            lines += _option(opt)
    return "\n".join(lines).rstrip("\n") + "\n"


def main():
    PAGE.write_text(render())
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
