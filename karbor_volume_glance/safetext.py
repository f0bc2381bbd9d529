"""Untrusted text made safe to show: the one function that escapes it.

Names, descriptions, ids and error messages come from the bank and the
cloud, written by whoever holds their credentials (another project sharing
the bank, another site). Printed raw, an ``ESC [ 2 J`` clears the reader's
terminal, an OSC 8 sequence hides a link behind harmless text, a bidi
override (U+202E) shows a name backwards, and a newline forges a line of our
own output. :func:`escape` replaces every character that is not plain
printable text with a backslash escape:

* the Unicode categories in :data:`UNSAFE_CATEGORIES`: controls (C0, DEL and
  C1: ``\\x1b``, ``\\x9b``, ``\\n``, ``\\t`` ...), format characters (bidi
  embeddings, overrides and isolates, zero-width characters, the BOM ...),
  lone surrogates, line and paragraph separators, and code points this
  Python's Unicode tables do not know yet (a terminal might);
* each as ``\\xHH`` (up to U+00FF), ``\\uHHHH`` or ``\\UHHHHHHHH``, as
  Python writes them.

Everything else (letters of every script, emoji, spaces, backslashes) is
kept as it is, so a plain name shows unchanged and :func:`escape` is
idempotent: text escaped twice is escaped once. The escaped form is for
reading, not a reversible encoding (a name that already holds the four
characters ``\\x1b`` shows as one holding ESC would); the raw text stays in
the bank.

:func:`escape_data` escapes every string (keys included) of a JSON-like
value; the command line prints JSON of escaped data, so that ``jq -r`` or a
``cat`` of its output is as safe as its tables, and the JSON still parses
to the escaped text.
"""

import unicodedata

#: Unicode general categories that are escaped (see the module's docstring).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})


def _escaped(char):
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text):
    """``text`` (made a string) with every unsafe character escaped."""
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():  # no Cc, Cf, Cs, Zl, Zp or Cn: the common case
        return text
    return "".join(_escaped(char)
                   if unicodedata.category(char) in UNSAFE_CATEGORIES else char
                   for char in text)


def escape_data(value):
    """``value`` with every string in it, dict keys included, escaped;
    dicts, lists and tuples are copied, other values kept."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape_data(key): escape_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [escape_data(item) for item in value]
    return value
