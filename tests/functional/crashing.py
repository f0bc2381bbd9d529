"""The command line, held at one step of its bank writes so that a test can
kill -9 it exactly there.

``python -m tests.functional.crashing STEP MARKER -- ARGS...`` runs
``karbor-volume-glance ARGS...``; when the run reaches STEP it creates the
file MARKER (the event the test waits for) and blocks until it is killed.
Steps (:data:`HOLDS`): ``first-chunk`` (after ``data_1`` is written),
``mid-stream`` (while ``data_4`` is written: on the file bank its
temporary file is whole but not yet renamed into place; on other banks
after it is written), ``manifest`` (after ``metadata``),
``status`` (before ``status`` becomes ``available``); ``none`` holds
nowhere (the test holds a cloud step with a local-cloud fault instead).
Nothing of the product is changed: only the bank's ``update_object`` is
watched.
"""

import sys
import threading

from karbor_volume_glance.bank import file as file_bank
from karbor_volume_glance.bank import section
from karbor_volume_glance.cli import commands

#: step -> (key suffix, value or None, hold before the write)
HOLDS = {
    "first-chunk": ("/data_1", None, False),
    "mid-stream": ("/data_4", None, False),  # see hold_mid_write too
    "manifest": ("/metadata", None, False),
    "status": ("/status", "available", True),
}


def hold_at(step, marker):
    suffix, value, before = HOLDS[step]
    original = section.Bank.update_object

    def update_object(self, key, new_value, context=None):
        reached = key.endswith(suffix) and value in (None, new_value)
        if reached and before:
            _hold(marker)
        original(self, key, new_value, context=context)
        if reached:
            _hold(marker)

    section.Bank.update_object = update_object


def hold_mid_write(suffix, marker):
    """On the file bank: hold with the object's temporary file written."""
    writing = threading.local()
    update, write = file_bank.FileBackend.update_object, file_bank._write_durably

    def update_object(self, key, value, context=None):
        writing.key = key
        return update(self, key, value, context=context)

    def write_durably(fd, *chunks):
        write(fd, *chunks)
        if getattr(writing, "key", "").endswith(suffix):
            _hold(marker)

    file_bank.FileBackend.update_object = update_object
    file_bank._write_durably = write_durably


def _hold(marker):
    with open(marker, "w") as stream:
        stream.write("held\n")
    threading.Event().wait()  # until kill -9


def main(argv):
    step, marker, separator, *args = argv
    assert separator == "--", argv
    if step == "mid-stream":
        hold_mid_write(HOLDS[step][0], marker)
    if step != "none":
        hold_at(step, marker)
    return commands.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
