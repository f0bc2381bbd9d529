"""How the fake Cinder shows volumes and snapshots: the v3 API's fields.

Each function returns the ``info`` dict that cinderclient's resource classes
are built from, at microversion 3.59.
"""

from karbor_volume_glance.testing import timestamps


def volume_info(state, volume):
    info = {
        "id": volume.id,
        "name": volume.name,
        "description": volume.description,
        "size": volume.size,
        "status": volume.status,
        "snapshot_id": volume.snapshot_id,
        "source_volid": volume.source_volid,
        "attachments": [
            attachment_info(a) for a in state.attachments_of_volume(volume.id)
        ],
        "availability_zone": volume.availability_zone,
        "created_at": timestamps.cinder_time(volume.created_at),
        "updated_at": timestamps.cinder_time(volume.life.changed_at),
        "bootable": "true" if volume.bootable else "false",
        "encrypted": False,
        "multiattach": False,
        "metadata": dict(volume.metadata),
        "volume_type": volume.volume_type,
        "replication_status": None,
        "consistencygroup_id": None,
        "group_id": None,
        "shared_targets": False,
        "user_id": volume.user_id,
        "links": _links("volumes", volume.id),
    }
    if volume.image_metadata is not None:
        info["volume_image_metadata"] = dict(volume.image_metadata)
    return info


def volume_summary_info(volume):
    """What ``GET /volumes`` (not detailed) shows of a volume."""
    return {
        "id": volume.id,
        "name": volume.name,
        "links": _links("volumes", volume.id),
    }


def attachment_info(attachment):
    return {
        "id": attachment.volume_id,
        "attachment_id": attachment.id,
        "volume_id": attachment.volume_id,
        "server_id": attachment.server_id,
        "host_name": None,
        "device": attachment.device,
        "attached_at": timestamps.cinder_time(attachment.attached_at),
    }


def snapshot_info(snapshot):
    return {
        "id": snapshot.id,
        "volume_id": snapshot.volume_id,
        "name": snapshot.name,
        "description": snapshot.description,
        "status": snapshot.status,
        "size": snapshot.size,
        "metadata": dict(snapshot.metadata),
        "created_at": timestamps.cinder_time(snapshot.created_at),
        "updated_at": timestamps.cinder_time(snapshot.life.changed_at),
        "group_snapshot_id": None,
        "user_id": snapshot.user_id,
        "os-extended-snapshot-attributes:progress": (
            "100%" if snapshot.status == "available" else "0%"
        ),
        "os-extended-snapshot-attributes:project_id": snapshot.project_id,
    }


def snapshot_summary_info(snapshot):
    """What ``GET /snapshots`` (not detailed) shows of a snapshot."""
    return {
        key: value
        for key, value in snapshot_info(snapshot).items()
        if not key.startswith("os-extended-snapshot-attributes:")
    }


def matches(info, search_opts):
    """Cinder's list filters, as far as the fake knows them (exact match)."""
    for key, wanted in (search_opts or {}).items():
        if key in ("all_tenants", "project_id"):
            continue
        if key == "metadata":
            if not all(info.get("metadata", {}).get(k) == v for k, v in wanted.items()):
                return False
        elif info.get(key) != wanted:
            return False
    return True


def _links(collection, resource_id):
    return [
        {"rel": "self", "href": f"http://fake-cinder/v3/{collection}/{resource_id}"},
        {"rel": "bookmark", "href": f"http://fake-cinder/{collection}/{resource_id}"},
    ]
