"""The ``karbor-volume-glance`` command.

``karbor-volume-glance demo`` runs the whole product once on the embedded
default: a fake cloud (Cinder, Glance, Nova held in memory with real bytes)
and a file-system bank in a temporary directory. It protects a volume of mixed
data (random, zeros, text), restores it, checks the restored bytes' sha256
against the original's, verifies and deletes the backup, and prints each step
with its time and throughput. Exit status 0 means the restore was byte-exact
and nothing temporary was left behind.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time

from oslo_config import cfg

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import (
    FakeCheckpoint,
    FakeCloud,
    FakeRecord,
    run_operation,
    volume_resource,
)

MiB = 1024 * 1024


def mixed_data(size):
    """``size`` bytes: a third random, a third zeros, a third text."""
    third = size // 3
    text = b"karbor-volume-glance protects volumes through glance. " * (
        third // 55 + 1
    )
    return os.urandom(third) + bytes(third) + text[: size - 2 * third]


def _config(object_size):
    config = cfg.ConfigOpts()
    config([], project="karbor-volume-glance", default_config_files=[])
    conf.register_opts(config)
    config.set_override("poll_interval", 0.05, group=conf.GROUP)
    config.set_override("backup_image_object_size", object_size, group=conf.GROUP)
    return config


class _Steps:
    """Prints each step with its time and, for transfers, its throughput."""

    def __init__(self, out):
        self._out = out

    def run(self, title, call, size=None):
        start = time.monotonic()
        result = call()
        seconds = time.monotonic() - start
        rate = f"  {size / MiB / seconds:8.1f} MiB/s" if size and seconds else ""
        print(f"{title:<44} {seconds:7.3f} s{rate}", file=self._out)
        return result


def run_demo(size, object_size, out=sys.stdout, bank_dir=None):
    """Protect, restore, compare, verify and delete one volume; True if exact."""
    cloud = FakeCloud(transition_polls=1)
    original = mixed_data(size)
    volume_id = cloud.add_volume(data=original, size=1, name="demo-volume")
    with tempfile.TemporaryDirectory(prefix="kvg-demo-") as tmp:
        bank = open_bank(f"file://{bank_dir or tmp}")
        plugin = VolumeGlanceProtectionPlugin(
            _config(object_size), client_factory=cloud.client_factory()
        )
        resource = volume_resource(volume_id, "demo-volume")
        checkpoint = FakeCheckpoint(bank)
        steps = _Steps(out)
        print(f"volume {volume_id}: {size} bytes of mixed data; bank {bank_dir or tmp}",
              file=out)
        steps.run("protect (snapshot, volume, image, bank)", lambda: run_operation(
            plugin.get_protect_operation(resource), checkpoint, resource,
            parameters={"backup_name": "demo"}), size)
        new_resources = {}
        steps.run("restore (image from bank, volume)", lambda: run_operation(
            plugin.get_restore_operation(resource), checkpoint, resource,
            parameters={"restore_name": "demo-restored"},
            restore=FakeRecord(), new_resources=new_resources), size)
        restored = cloud.volume_data(new_resources[volume_id])
        expected, actual = (hashlib.sha256(original).hexdigest(),
                            hashlib.sha256(restored).hexdigest())
        print(f"sha256 original {expected}\nsha256 restored {actual}", file=out)
        steps.run("verify (every chunk's sha256)", lambda: run_operation(
            plugin.get_verify_operation(resource), checkpoint, resource,
            parameters={}, verify=FakeRecord()), size)
        steps.run("delete (every object of the backup)", lambda: run_operation(
            plugin.get_delete_operation(resource), checkpoint, resource))
        leftovers = cloud.leftovers(keep=[new_resources[volume_id]])
        print(f"temporary resources left in the cloud: {len(leftovers)}", file=out)
    exact = expected == actual and not leftovers
    print("restore is byte-exact" if exact else "RESTORE DIFFERS", file=out)
    return exact


def _parser():
    parser = argparse.ArgumentParser(
        prog="karbor-volume-glance",
        description="Protect Cinder volumes through Glance into a bank.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks on failure")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="protect and restore a volume on the embedded fake cloud "
        "and a file bank, and check the bytes")
    demo.add_argument("--size-mib", type=int, default=64,
                      help="the demo volume's data in MiB (default 64)")
    demo.add_argument("--object-mib", type=int, default=4,
                      help="bank object size in MiB (default 4)")
    demo.add_argument("--bank-dir", help="keep the bank in this directory "
                      "instead of a temporary one")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            ok = run_demo(args.size_mib * MiB, args.object_mib * MiB,
                          bank_dir=args.bank_dir)
            return 0 if ok else 1
    except exceptions.VolumeGlanceError as exc:
        if args.debug:
            raise
        print(f"karbor-volume-glance: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
