"""``karbor-volume-glance demo``: the whole product once, on the embedded default.

Starts two local clouds (site A and site B: each its own Keystone, Cinder,
Glance and Nova on 127.0.0.1) and a file bank in a temporary directory,
creates a volume of mixed data (random, zeros, text) at site A through the
real clients, protects it at A, restores it at B from the same bank, compares
the sha256 of both volumes' bytes, checks that no temporary resource is left
at either site, deletes the checkpoint and removes everything it made.
"""

import hashlib
import math
import os
import tempfile
import time
import types

import yaml

from karbor_volume_glance import conf
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.cli.output import ProgressBars
from karbor_volume_glance.cloud import facade, factory
from karbor_volume_glance.datapath import IterableReader
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.safetext import escape
from karbor_volume_glance.standalone.runner import Runner
from karbor_volume_glance.testing.localcloud import LocalCloud

MiB = 1024 * 1024
GiB = 1024 * MiB
PIECE = MiB
TEXT = b"karbor-volume-glance protects Cinder volumes through Glance.\n"


def mixed_pieces(size):
    """``size`` bytes in 1 MiB pieces: a third random, a third zeros, then text."""
    third = size // 3
    text = TEXT * (PIECE // len(TEXT) + 1)
    for start in range(0, size, PIECE):
        length = min(PIECE, size - start)
        if start < third:
            yield os.urandom(length)
        elif start < 2 * third:
            yield bytes(length)
        else:
            yield text[:length]


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for piece in iter(lambda: stream.read(4 * MiB), b""):
            digest.update(piece)
    return digest.hexdigest()


class Steps:
    """Runs and prints each step with its time and, for transfers, MiB/s."""

    def __init__(self, out):
        self.out = out

    def say(self, text):
        print(escape(text), file=self.out, flush=True)

    def run(self, title, call, size=None):
        start = time.monotonic()
        result = call()
        seconds = time.monotonic() - start
        rate = (f"  {size / MiB / seconds:8.1f} MiB/s" if size and seconds else "")
        self.say(f"  {title:<52} {seconds:7.2f} s{rate}")
        return result


def _site_cloud(factory_, settings, project_id):
    context = types.SimpleNamespace(project_id=project_id)
    return facade.Cloud(factory_, context, settings)


def _create_source_volume(cloud, size):
    """A volume at site A holding ``size`` bytes of mixed data, via an image."""
    image_id = cloud.create_image("demo-source-image", "raw", "bare")
    try:
        cloud.upload_image(image_id, IterableReader(mixed_pieces(size)), size)
        cloud.wait_image(image_id)
        volume_id = cloud.create_volume(max(1, math.ceil(size / GiB)),
                                        "demo-volume", image_id=image_id)
        cloud.wait_volume(volume_id)
    finally:
        cloud.delete_image(image_id)
    return volume_id


def _leftovers(factory_):
    """Snapshots and images left at a site, and its volumes' names."""
    cinder = factory_.create_client("cinder", None)
    glance = factory_.create_client("glance", None)
    return {
        "volumes": sorted(v.name or v.id for v in cinder.volumes.list()),
        "snapshots": [s.id for s in cinder.volume_snapshots.list()],
        "images": [i["id"] for i in glance.images.list()],
    }


def run_demo(size, out, status_delay=0.05, object_size=32 * MiB):
    """Run the demo; return True when the restore is byte-exact and clean."""
    steps = Steps(out)
    config = conf.make_config(poll_interval=0.5,
                              backup_image_object_size=object_size)
    with tempfile.TemporaryDirectory(prefix="kvg-demo-") as tmp:
        site_a = steps.run("start site A (Keystone, Cinder, Glance, Nova)",
                           lambda: LocalCloud(os.path.join(tmp, "site-a"),
                                              status_delay=status_delay).start())
        site_b = steps.run("start site B", lambda: LocalCloud(
            os.path.join(tmp, "site-b"), status_delay=status_delay).start())
        try:
            return _demo(steps, tmp, site_a, site_b, config, size)
        finally:
            site_a.stop()
            site_b.stop()


def _demo(steps, tmp, site_a, site_b, config, size):
    clouds_yaml = os.path.join(tmp, "clouds.yaml")
    with open(clouds_yaml, "w") as stream:
        yaml.safe_dump({"clouds": {"site-a": site_a.cloud_config(),
                                   "site-b": site_b.cloud_config()}}, stream)
    bank_url = f"file://{os.path.join(tmp, 'bank')}"
    steps.say(f"site A {site_a.url}, site B {site_b.url}, bank {bank_url}")
    factories = {name: factory.from_cloud_config(name, clouds_yaml)
                 for name in ("site-a", "site-b")}
    projects = {name: f.session.get_project_id() for name, f in factories.items()}
    bank = open_bank(bank_url)

    cloud_a = _site_cloud(factories["site-a"], conf.load_settings(config),
                          projects["site-a"])
    volume_id = steps.run(f"create a volume of {size // MiB} MiB mixed data at A",
                          lambda: _create_source_volume(cloud_a, size), size)
    volume_bytes = os.path.getsize(site_a.volume_path(volume_id))

    def runner(site):
        plugin = VolumeGlanceProtectionPlugin(config, client_factory=factories[site])
        # who Keystone says it is: the same tenant (names) at both sites
        context = factory.session_context(factories[site].session)
        return Runner(plugin, bank, context)

    runner_a, runner_b = runner("site-a"), runner("site-b")
    runner_a.progress = ProgressBars("protect")
    protected = steps.run("protect at A (snapshot, volume, image, bank)",
                          lambda: runner_a.protect(
                              [volume_id], {volume_id: {"backup_name": "demo"}}),
                          volume_bytes)
    runner_a.progress.close()
    if not protected.ok:
        steps.say(f"PROTECT FAILED: {protected.failures()[0].error}")
        return False
    checkpoint_id = protected.checkpoint_id
    steps.say(f"  checkpoint {checkpoint_id}")

    runner_b.progress = ProgressBars("restore")
    restored = steps.run("restore at B (image from bank, volume)",
                         lambda: runner_b.restore(checkpoint_id, {}), volume_bytes)
    runner_b.progress.close()
    if not restored.ok:
        steps.say(f"RESTORE FAILED: {restored.failures()[0].error}")
        return False
    new_volume_id = restored.outcomes[0].new_volume_id

    original = file_sha256(site_a.volume_path(volume_id))
    copy = file_sha256(site_b.volume_path(new_volume_id))
    steps.say(f"  sha256 at A {original}")
    steps.say(f"  sha256 at B {copy}")
    verified = steps.run("verify (every stored object and its size)",
                         lambda: runner_a.verify(checkpoint_id), volume_bytes)
    left_a, left_b = _leftovers(factories["site-a"]), _leftovers(factories["site-b"])
    steps.say(f"  left at A: {left_a}")
    steps.say(f"  left at B: {left_b}")
    steps.run("delete the checkpoint", lambda: runner_a.delete(checkpoint_id))
    clean = (left_a == {"volumes": ["demo-volume"], "snapshots": [], "images": []}
             and left_b["snapshots"] == [] and left_b["images"] == []
             and len(left_b["volumes"]) == 1)
    exact = original == copy and verified.ok
    steps.say("restore is byte-exact, nothing temporary left"
              if exact and clean else "DEMO FAILED: restore differs or leftovers")
    return exact and clean
