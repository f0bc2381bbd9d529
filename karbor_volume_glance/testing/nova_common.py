"""Lookups and errors shared by the fake Nova managers.

Errors are the real :mod:`novaclient.exceptions` classes with the status code
and the wording Nova's API uses.
"""

from novaclient import base as nova_base
from novaclient import exceptions as nova_exceptions


def find_server(state, server):
    server_id = nova_base.getid(server)
    record = state.servers.get(server_id)
    if record is None:
        raise nova_exceptions.NotFound(404, f"Instance {server_id} could not be found.")
    return record


def find_volume(state, volume_id):
    record = state.volumes.get(volume_id)
    if record is None:
        raise nova_exceptions.NotFound(404, f"Volume {volume_id} could not be found.")
    return record


def find_attachment(state, server_id, volume_id):
    for attachment in state.attachments_of_server(server_id):
        if attachment.volume_id == volume_id:
            return attachment
    raise nova_exceptions.NotFound(
        404, f"Volume {volume_id} is not attached to instance {server_id}."
    )


def bad_request(message):
    return nova_exceptions.BadRequest(400, message)


def conflict(message):
    return nova_exceptions.Conflict(409, message)
