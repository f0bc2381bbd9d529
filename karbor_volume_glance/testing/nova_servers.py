"""The fake ``nova.servers`` manager: stub servers to attach volumes to.

Servers are novaclient's own :class:`novaclient.v2.servers.Server` objects;
they are ``ACTIVE`` at once and only carry what attaching needs.
"""

from novaclient import base as nova_base
from novaclient.v2 import servers as nova_servers

from karbor_volume_glance.testing import timestamps
from karbor_volume_glance.testing.identifiers import new_id
from karbor_volume_glance.testing.nova_common import find_server
from karbor_volume_glance.testing.records import ServerRecord
from karbor_volume_glance.testing.responses import make_response


class FakeServerManager:
    resource_class = nova_servers.Server

    def __init__(self, cloud, api_version):
        self._cloud = cloud
        self.api_version = api_version

    def create(self, name, image, flavor, meta=None, **kwargs):
        self._cloud.enter_step("server.create")
        with self._cloud.lock:
            server = ServerRecord(
                id=new_id(),
                name=name,
                created_at=timestamps.now(),
                user_id=self._cloud.user_id,
                project_id=self._cloud.project_id,
                image_id=nova_base.getid(image) if image else None,
                flavor_id=nova_base.getid(flavor) if flavor else None,
                metadata=dict(meta or {}),
            )
            self._cloud.state.servers[server.id] = server
            self._cloud.record_created("server", server.id, name)
            return self._resource(server)

    def get(self, server):
        self._cloud.enter_step("server.get")
        with self._cloud.lock:
            return self._resource(find_server(self._cloud.state, server))

    def list(
        self,
        detailed=True,
        search_opts=None,
        marker=None,
        limit=None,
        sort_keys=None,
        sort_dirs=None,
    ):
        self._cloud.enter_step("server.list")
        with self._cloud.lock:
            servers = list(self._cloud.state.servers.values())
            return nova_base.ListWithMeta(
                [self._resource(s) for s in servers], make_response(200)
            )

    def delete(self, server):
        """Remove a server at once; its volumes are detached and available."""
        self._cloud.enter_step("server.delete")
        with self._cloud.lock:
            state = self._cloud.state
            record = find_server(state, server)
            for attachment in state.attachments_of_server(record.id):
                del state.attachments[attachment.id]
                volume = state.volumes.get(attachment.volume_id)
                if volume is not None:
                    volume.life.end_in("available")
            del state.servers[record.id]
            response = make_response(204)
            return nova_base.TupleWithMeta((response, None), response)

    def _resource(self, server):
        state = self._cloud.state
        info = {
            "id": server.id,
            "name": server.name,
            "status": server.status,
            "tenant_id": server.project_id,
            "user_id": server.user_id,
            "metadata": dict(server.metadata),
            "image": {"id": server.image_id} if server.image_id else "",
            "flavor": {"id": server.flavor_id},
            "addresses": {},
            "created": timestamps.nova_time(server.created_at),
            "updated": timestamps.nova_time(server.created_at),
            "OS-EXT-STS:vm_state": "active",
            "os-extended-volumes:volumes_attached": [
                {"id": a.volume_id} for a in state.attachments_of_server(server.id)
            ],
        }
        return self.resource_class(self, info, loaded=True, resp=make_response(200))
