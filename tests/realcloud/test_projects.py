"""Two projects, and a quota refusal (D6, D8) against the real cloud.

The demo project (user demo, role member) cannot see the admin project's
volumes; a restore by demo beyond its volume quota fails naming the quota
and leaves nothing behind.
"""

import types

import pytest
from cinderclient import exceptions as cinder_exc

from tests.realcloud import cloud as rc


def test_demo_cannot_see_the_admin_projects_volume(real, sources):
    with pytest.raises(cinder_exc.NotFound):
        real.cinder(rc.DEMO).volumes.get(sources.a)
    assert sources.a not in [v.id for v in real.cinder(rc.DEMO).volumes.list()]


def test_a_protect_by_demo_of_the_admin_projects_volume_fails_naming_it(
        real, kvg, sources):
    result = kvg("protect", sources.a, "--name", "not-yours", cloud=rc.DEMO)
    assert result.rc != 0, result
    assert sources.a in result.err, result
    assert "nothing was created" in result.err, result  # refused before
    assert real.temporaries() == []


@pytest.fixture(scope="module")
def over_quota(real, kvg, sources, in_use):
    """demo, with a volume quota of 0 GiB, restores B's checkpoint, which
    the admin project shares with it (a checkpoint is its owner's unless
    shared: issue 14)."""
    rc.require(in_use.protect.rc == 0, f"no checkpoint of B: {in_use.protect!r}")
    checkpoint = in_use.protect.json["checkpoint_id"]
    admin = real.cinder()
    admin.quotas.update(real.demo_project, gigabytes=0)
    temporary = f"temporary_image_for_restore_of_{sources.b}"
    images_before = real.images_named(temporary, real.demo_project)
    rbd_before = real.rbd_images("volumes")
    kvg.ok("share", checkpoint, "demo")
    try:
        result = kvg("restore", checkpoint, "--name", "over-quota", cloud=rc.DEMO)
    finally:
        admin.quotas.delete(real.demo_project)  # back to the defaults
        kvg.ok("unshare", checkpoint, "demo")
    return types.SimpleNamespace(
        result=result, checkpoint=checkpoint, rbd_before=rbd_before,
        images_made=sorted(set(real.images_named(temporary, real.demo_project))
                           - set(images_before)))


def test_a_restore_beyond_the_quota_fails_naming_it_and_leaves_nothing(
        real, over_quota):
    result = over_quota.result
    assert result.rc != 0, result
    assert "quota" in result.err.lower() and "gigabytes" in result.err, result
    assert real.cinder(rc.DEMO).volumes.list() == []
    assert [i.id for i in real.glance(rc.DEMO).images.list()
            if i.owner == real.demo_project] == []
    assert real.temporaries() == []
    assert real.rbd_images("volumes") == over_quota.rbd_before


def test_d6_json_output_of_a_failed_restore_names_the_volume_and_reason(
        sources, over_quota):
    # today: {"ok": false, "volumes": {}}; the reason only on stderr
    result = over_quota.result
    rc.require(result.json is not None, f"no JSON on stdout: {result!r}")
    assert result.json["ok"] is False
    volumes = str(result.json["volumes"])
    assert sources.b in volumes, result
    assert "quota" in volumes.lower(), result


def test_d8_the_quota_is_checked_before_any_upload(over_quota):
    # today the whole 1 GiB goes into a temporary image first
    assert over_quota.images_made == []
