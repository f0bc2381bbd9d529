"""Bank backend options: declared once as oslo.config opts, read from a bank
URL's query or from a Karbor provider file's section alike.

Each backend module declares ``GROUP`` (its provider-file section) and
``OPTS`` (a list of oslo.config opts, secrets with ``secret=True``). Both
ways of naming a bank end in the same ``{opt.dest: value}`` dict, built by
the opts' own types and defaults:

* :func:`from_query` parses a URL query against the opts: a name must be an
  opt's (or a backend's alias of one), given once; a secret opt, or a name
  that looks like a secret (:data:`SECRET_WORDS`), is refused without
  echoing it, because URLs end up in logs, command lines and notifications.
* :func:`from_config` reads the opts from a ConfigOpts (the provider file),
  naming the option of a value that does not parse.

:func:`list_opts` lists every bank group for oslo-config-generator and the
plugin's ``conf.list_opts()``.
"""

import re
import urllib.parse

from oslo_config import cfg, types

from karbor_volume_glance import exceptions
from karbor_volume_glance.exceptions import BankError

#: Parts of a name that would carry a secret (a query name containing one is
#: refused, unless the backend allows that very name, such as ``key_env``).
SECRET_WORDS = ("key", "secret", "password", "token", "credential",
                "session", "signature")
#: How a query name is shown in an error: only if it looks like a name, not
#: like a secret pasted in the wrong place.
_SHOWABLE_NAME = re.compile(r"[A-Za-z_]{1,32}")


def _describe_type(opt_type):
    if isinstance(opt_type, types.Boolean):
        return "true or false"
    if isinstance(opt_type, types.Integer):
        return "a whole number"
    if isinstance(opt_type, types.Float):
        return "a number"
    return "valid"


def looks_secret(name):
    """Whether query name ``name`` looks like it carries a secret."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def defaults(opts):
    """``{opt.dest: default}`` for every opt of ``opts``."""
    return {opt.dest: opt.default for opt in opts}


def from_query(query, opts, backend, aliases=None, allowed=(),
               credentials_hint=""):
    """The options a URL query sets, over the opts' defaults.

    ``query`` is the URL's query string; ``opts`` the backend's opts;
    ``backend`` its name for messages ("S3"); ``aliases`` maps a query name
    to an opt's name (``endpoint`` -> ``endpoint_url``); ``allowed`` are
    names that look secret but are not (``key_env``); ``credentials_hint``
    says where credentials go instead. Returns ``(options, given)``: every
    opt's value, and the set of opt names the query gave.
    """
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True,
                                       strict_parsing=bool(query))
    except ValueError:
        raise BankError(f"the query of the {backend} bank URL does not "
                        "parse") from None
    by_name = {opt.name: opt for opt in opts}
    aliases = dict(aliases or {})
    hint = f"; {credentials_hint}" if credentials_hint else ""
    secret = sorted({name for name, _ in pairs
                     if name not in allowed and (
                         looks_secret(name) or getattr(
                             by_name.get(aliases.get(name, name)), "secret",
                             False))})
    if secret:
        shown = [name for name in secret if _SHOWABLE_NAME.fullmatch(name)]
        found = f" (it has {', '.join(shown)})" if shown else ""
        raise BankError(f"a {backend} bank URL must not carry credentials"
                        f"{found}{hint}")
    options = defaults(opts)
    given = set()
    known = sorted(set(by_name) - {opt.name for opt in opts if opt.secret}
                   | set(aliases))
    for name, text in pairs:
        opt = by_name.get(aliases.get(name, name))
        if opt is None:
            shown = f" {name!r}" if _SHOWABLE_NAME.fullmatch(name) else ""
            raise BankError(f"unknown {backend} bank URL parameter{shown} "
                            f"(known: {', '.join(known)})")
        if opt.name in given:
            raise BankError(f"the {backend} bank URL parameter {name!r} is "
                            "given twice")
        try:
            options[opt.dest] = opt.type(text)
        except ValueError as exc:
            raise BankError(f"the {backend} bank URL parameter {name} must be "
                            f"{_describe_type(opt.type)}, not {text!r} "
                            f"({exc})") from None
        given.add(opt.name)
    return options, given


def from_config(config, group, opts):
    """The options of ``group`` in ConfigOpts ``config``, registering
    ``opts`` there first; InvalidConfiguration names a value that does not
    parse."""
    config.register_opts(list(opts), group=group)
    options = {}
    for opt in opts:
        try:
            options[opt.dest] = getattr(config[group], opt.dest)
        except (ValueError, cfg.Error) as exc:
            raise exceptions.InvalidConfiguration(opt.dest, str(exc),
                                                  group=group) from exc
    return options


def require(group, options, *names):
    """InvalidConfiguration naming the first of ``names`` that is unset."""
    for name in names:
        if not options.get(name):
            raise exceptions.InvalidConfiguration(name, "must be set", group=group)


def list_opts():
    """``[(group, opts), …]`` of every bank backend, for oslo-config-generator.

    Importing the backend modules needs neither boto3 nor swiftclient.
    """
    from karbor_volume_glance.bank import file, s3, swift

    return [(module.GROUP, list(module.OPTS)) for module in (file, s3, swift)]
