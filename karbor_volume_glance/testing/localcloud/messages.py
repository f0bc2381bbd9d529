"""Cinder's user messages (microversion 3.3): why an asynchronous request failed.

Real Cinder records a message when work it accepted fails later (the
scheduler finds no backend, the driver cannot create a volume or snapshot,
an upload to Glance fails), readable by the project at
``GET /v3/{project}/messages`` (filters, ``sort``, ``marker`` and ``limit``
from 3.5). A message names its resource (``resource_type`` ``VOLUME`` or
``VOLUME_SNAPSHOT`` and ``resource_uuid``) and carries an ``event_id``
``VOLUME_<resource type>_<action id>_<detail id>`` and a ``user_message``
"<action>: <detail>", with the ids and texts of Cinder's
``cinder/message/message_field.py`` (below: the ones the local cloud's
failures use). Messages live ``message_ttl`` (30 days) in Cinder; here, as
long as the cloud.
"""

import dataclasses
import datetime

from karbor_volume_glance.testing.localcloud.state import new_uuid, utcnow

VOLUME = "VOLUME"
VOLUME_SNAPSHOT = "VOLUME_SNAPSHOT"

#: Cinder's actions: (id, text).
COPY_VOLUME_TO_IMAGE = ("003", "copy volume to image")
CREATE_VOLUME_FROM_BACKEND = ("008", "create volume from backend storage")
SNAPSHOT_CREATE = ("009", "create snapshot")
SNAPSHOT_DELETE = ("010", "delete snapshot")

#: Cinder's details: (id, text).
FAILED_TO_UPLOAD_VOLUME = ("004", "Failed to upload volume to image at backend.")
DRIVER_FAILED_CREATE = ("012", "Driver failed to create the volume.")
SNAPSHOT_CREATE_ERROR = ("013", "Snapshot failed to create.")
SNAPSHOT_DELETE_ERROR = ("016", "Snapshot failed to delete.")

#: Cinder's default ``message_ttl``.
TTL = datetime.timedelta(seconds=2592000)


@dataclasses.dataclass
class Message:
    id: str
    project_id: str
    resource_type: str
    resource_uuid: str
    event_id: str
    user_message: str
    request_id: str
    message_level: str = "ERROR"
    created_at: datetime.datetime = dataclasses.field(default_factory=utcnow)

    @property
    def guaranteed_until(self):
        return self.created_at + TTL


def record(state, project_id, resource_type, resource_uuid, action, detail):
    """Keep the message Cinder writes when ``action`` fails for ``detail``."""
    message = Message(
        id=new_uuid(), project_id=project_id, resource_type=resource_type,
        resource_uuid=resource_uuid,
        event_id=f"VOLUME_{resource_type}_{action[0]}_{detail[0]}",
        user_message=f"{action[1]}: {detail[1]}",
        request_id=f"req-{new_uuid()}",
    )
    with state.lock:
        state.messages[message.id] = message
    return message
