"""How bank values become bytes and back, keeping their Python type.

Every backend stores a value as a *kind* and a payload of bytes:

* ``"bytes"`` -- ``bytes``, ``bytearray`` or ``memoryview``; read back as
  ``bytes``, byte for byte. A ``bytearray`` is passed to the backend as it
  is, not copied: a backend writes it out before ``update_object`` returns
  and keeps no reference to it (the memory backend keeps a copy), so a
  caller may reuse the buffer afterwards (an encrypted chunk is sealed into
  a buffer reused from chunk to chunk: :mod:`..format.sealing`).
* ``"str"`` -- a ``str``, stored as UTF-8; read back as ``str``.
* ``"json"`` -- anything else JSON can hold (dict, list, int, float, bool,
  None); read back as JSON decodes it. JSON's own rules apply: a tuple comes
  back as a list and non-str dict keys come back as str. NaN and infinity are
  refused.

So ``update_object(k, b"...")`` gives back bytes and ``update_object(k,
"available")`` gives back ``"available"``, whatever the backend.
"""

import json

from karbor_volume_glance.exceptions import BankError

BYTES = "bytes"
STR = "str"
JSON = "json"
KINDS = frozenset({BYTES, STR, JSON})


def encode(value):
    """Return ``(kind, payload)`` for ``value``; payload is ``bytes``, or the
    ``bytearray`` given (uncopied: see above).

    Raises :class:`BankError` naming the type when the value cannot be stored.
    """
    if isinstance(value, bytes):
        return BYTES, bytes(value)
    if isinstance(value, bytearray):
        return BYTES, value
    if isinstance(value, memoryview):
        return BYTES, value.tobytes()
    if isinstance(value, str):
        try:
            return STR, value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BankError(
                f"cannot store a str that is not valid Unicode in the bank: {exc}"
            ) from exc
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BankError(
            f"cannot store a value of type {type(value).__name__} in the bank "
            f"(only bytes, str and JSON-serialisable values): {exc}"
        ) from exc
    return JSON, text.encode("utf-8")


def decode(kind, payload, key=None):
    """Return the value stored as ``kind`` with bytes ``payload``.

    ``key``, when given, is named in the :class:`BankError` raised for an
    unknown kind or a payload that does not decode.
    """
    where = f" of bank object {key!r}" if key is not None else ""
    try:
        if kind == BYTES:
            return bytes(payload)
        if kind == STR:
            return bytes(payload).decode("utf-8")
        if kind == JSON:
            return json.loads(bytes(payload).decode("utf-8"))
    # UnicodeDecodeError and JSONDecodeError included; RecursionError: JSON
    # nested deeper than the interpreter's stack
    except (ValueError, RecursionError) as exc:
        raise BankError(
            f"the {kind} payload{where} does not decode: {exc}", key=key
        ) from exc
    raise BankError(f"unknown value kind {kind!r}{where}", key=key)
