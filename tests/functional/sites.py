"""A site of the end-to-end tests: a local cloud and the plugin's clients for it.

A "GiB" of volume size is shrunk to 1 MiB in these tests so that whole
volumes move in milliseconds.
"""

import io
import json
from contextlib import redirect_stderr, redirect_stdout

from karbor_volume_glance import conf
from karbor_volume_glance.cloud import facade, factory
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner

GIB = 1024 * 1024  # the local clouds' "GiB" in these tests
OBJECT_SIZE = 65536


class Site:
    """One local cloud with the plugin's clients for one of its projects."""

    def __init__(self, cloud, name, clouds_yaml):
        self.cloud = cloud
        self.name = name
        self.clients = factory.from_cloud_config(name, clouds_yaml)
        self.project_id = self.clients.session.get_project_id()
        self.context = factory.session_context(self.clients.session)
        self.config = conf.make_config(poll_interval=0.01,
                                       backup_image_object_size=OBJECT_SIZE)
        self.plugin = VolumeGlanceProtectionPlugin(self.config,
                                                   client_factory=self.clients)
        self.facade = facade.Cloud(self.clients, self.context,
                                   conf.load_settings(self.config))

    def runner(self, bank):
        return Runner(self.plugin, bank, self.context)

    def create_volume(self, data, size=1, name="source"):
        """A volume holding ``data`` (then zeros), made through Glance."""
        image_id = self.facade.create_image(f"{name}-image", "raw", "bare")
        try:
            self.facade.upload_image(image_id, io.BytesIO(data), len(data))
            self.facade.wait_image(image_id)
            volume_id = self.facade.create_volume(size, name, image_id=image_id)
            self.facade.wait_volume(volume_id)
        finally:
            self.facade.delete_image(image_id)
        return volume_id

    def volume_bytes(self, volume_id):
        with open(self.cloud.volume_path(volume_id), "rb") as stream:
            return stream.read()

    def inventory(self):
        """What exists at this site for this project, through the real clients."""
        cinder = self.clients.create_client("cinder", None)
        glance = self.clients.create_client("glance", None)
        return {
            "volumes": sorted(v.id for v in cinder.volumes.list()),
            "snapshots": sorted(s.id for s in cinder.volume_snapshots.list()),
            "images": sorted(i["id"] for i in glance.images.list()),
        }


def cli(*args, expect=0):
    """Run the command line in this process with ``--format json``: (its
    parsed JSON output or None, its stderr); ``expect`` is its exit status."""
    from karbor_volume_glance.cli import commands

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = commands.main(["--format", "json", *args])
    assert status == expect, err.getvalue()
    return (json.loads(out.getvalue()) if out.getvalue() else None), err.getvalue()
