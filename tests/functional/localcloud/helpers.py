"""Helpers of the local cloud's tests: polling, and volumes holding given bytes."""

import io
import time

MIB = 1024 * 1024
GIB = MIB  # the local cloud's "GiB" in these tests


def wait_for(fetch, done, timeout=10.0, interval=0.005):
    """Poll ``fetch()`` until ``done(value)``; return the distinct values seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if not seen or seen[-1] != value:
            seen.append(value)
        if done(value):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s; seen {seen}")
        time.sleep(interval)


FAILED = ("error", "killed", "error_deleting")


def status_of(manager, resource_id):
    resource = manager.get(resource_id)
    try:
        return resource["status"]  # a glanceclient model
    except (TypeError, KeyError):
        return resource.status


def wait_status(manager, resource_id, wanted, timeout=10.0):
    """Poll until the status is ``wanted`` or a failure; return those seen."""
    final = {wanted, *FAILED}
    return wait_for(lambda: status_of(manager, resource_id),
                    lambda status: status in final, timeout)


def wait_gone(manager, resource_id, not_found, timeout=10.0):
    """Poll until ``manager.get`` raises ``not_found``."""
    def gone():
        try:
            manager.get(resource_id)
        except not_found:
            return True
        return False

    wait_for(gone, bool, timeout)


def file_bytes(path):
    with open(path, "rb") as stream:
        return stream.read()


def image_with(glance, data, name="source", **fields):
    """An active image of ``data``, uploaded through glanceclient."""
    image = glance.images.create(name=name, disk_format="raw",
                                 container_format="bare", **fields)
    glance.images.upload(image["id"], io.BytesIO(data))
    assert wait_status(glance.images, image["id"], "active")[-1] == "active"
    return image["id"]


def volume_with(cinder, glance, data, size=1, name="source"):
    """An available volume holding ``data`` then zeros (made from an image)."""
    image_id = image_with(glance, data, name=f"{name}-image")
    volume = cinder.volumes.create(size, name=name, imageRef=image_id)
    assert wait_status(cinder.volumes, volume.id, "available")[-1] == "available"
    glance.images.delete(image_id)
    return volume.id
