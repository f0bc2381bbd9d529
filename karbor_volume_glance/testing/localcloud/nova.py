"""Nova v2.1 over HTTP, at ``/compute``.

``/v2.1[/<project_id>]/servers`` (create 202, list, ``detail``, show, delete
204) and ``/servers/<id>/os-volume_attachments`` (list, attach with POST,
show, detach with DELETE; a swap with PUT is refused with 409, as current
Nova refuses one Cinder did not start). Microversions 2.1 to 2.96; the
attachment view follows the microversion (``tag`` from 2.70,
``delete_on_termination`` from 2.79, ``attachment_id`` instead of ``id`` from
2.89). Errors are Nova faults. Version documents at ``/compute/`` and
``/compute/v2.1/``.
"""

import re
import secrets

from karbor_volume_glance.testing.localcloud import (
    errors,
    exceptions,
    microversions,
    service,
    versions,
    webutil,
)

_PROJECT_ID = re.compile(r"^[0-9a-f]{32}$")
_VM_STATES = {"ACTIVE": "active", "BUILD": "building", "ERROR": "error",
              "SHUTOFF": "stopped"}


def _time(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class NovaService(service.Service):
    microversions = microversions.NOVA

    def __init__(self, identity, catalog, faults, jobs, compute):
        super().__init__(identity, catalog, faults, jobs)
        self.compute = compute
        add = self.router.add
        add("GET", "/servers/detail", self.list_servers_detail,
            step="server.list")
        add("GET", "/servers", self.list_servers, step="server.list")
        add("POST", "/servers", self.create_server, step="server.create")
        add("GET", "/servers/{server_id}", self.show_server, step="server.get")
        add("DELETE", "/servers/{server_id}", self.delete_server,
            step="server.delete")
        attachments = "/servers/{server_id}/os-volume_attachments"
        add("GET", attachments, self.list_attachments,
            step="server.get_volumes")
        add("POST", attachments, self.attach, step="server.attach")
        add("GET", attachments + "/{volume_id}", self.show_attachment,
            step="server.get_volume")
        add("PUT", attachments + "/{volume_id}", self.swap, step="server.swap")
        add("DELETE", attachments + "/{volume_id}", self.detach,
            step="server.detach")

    # --- service plumbing -------------------------------------------------

    def discovery(self, request):
        if request.method != "GET":
            return None
        if request.path_info in ("", "/"):
            return webutil.json_response(versions.compute_root(request.host_url))
        if request.path_info in ("/v2.1", "/v2.1/"):
            return webutil.json_response(
                {"version": versions.compute_v21(request.host_url)}
            )
        return None

    def api_path(self, path):
        if not path.startswith("/v2.1/"):
            raise exceptions.NotFound("The resource could not be found.")
        rest = path[len("/v2.1"):]
        first, _, below = rest[1:].partition("/")
        if _PROJECT_ID.match(first):
            return "/" + below, first
        return rest, None

    def render_error(self, request, error):
        return errors.fault(error.code, error.message, error.headers)

    # --- views --------------------------------------------------------------

    @staticmethod
    def _links(call, kind, record_id):
        host = call.host_url
        return [
            {"rel": "self", "href": f"{host}/compute/v2.1/{kind}/{record_id}"},
            {"rel": "bookmark", "href": f"{host}/compute/{kind}/{record_id}"},
        ]

    def _server_summary(self, call, server):
        return {"id": server.id, "name": server.name,
                "links": self._links(call, "servers", server.id)}

    def _server_detail(self, call, server):
        attached = [{"id": a.volume_id} for a in
                    self.compute.state.attachments_of(server.id)]
        if call.at_least((2, 3)):
            for volume in attached:
                volume["delete_on_termination"] = False
        if call.at_least((2, 47)):
            flavor = {"original_name": server.flavor_ref, "vcpus": 1, "ram": 512,
                      "disk": 1, "ephemeral": 0, "swap": 0, "extra_specs": {}}
        else:
            flavor = {"id": server.flavor_ref,
                      "links": self._links(call, "flavors", server.flavor_ref)}
        image = ""
        if server.image_ref:
            image = {"id": server.image_ref,
                     "links": self._links(call, "images", server.image_ref)}
        return {
            **self._server_summary(call, server),
            "status": server.status, "tenant_id": server.project_id,
            "user_id": server.user_id, "metadata": dict(server.metadata),
            "hostId": "", "image": image, "flavor": flavor,
            "created": _time(server.created_at), "updated": _time(server.updated_at),
            "addresses": {}, "accessIPv4": "", "accessIPv6": "", "progress": 0,
            "OS-DCF:diskConfig": "MANUAL", "config_drive": "", "key_name": None,
            "OS-EXT-AZ:availability_zone": "nova",
            "OS-EXT-STS:vm_state": _VM_STATES.get(server.status, "error"),
            "OS-EXT-STS:task_state": server.task_state,
            "OS-EXT-STS:power_state": 1 if server.status == "ACTIVE" else 0,
            "os-extended-volumes:volumes_attached": attached,
            "security_groups": [{"name": "default"}],
        }

    @staticmethod
    def _attachment_view(call, attachment):
        view = {"device": attachment.device, "serverId": attachment.server_id,
                "volumeId": attachment.volume_id}
        if call.at_least((2, 89)):
            view.update(attachment_id=attachment.id, bdm_uuid=attachment.id)
        else:
            view["id"] = attachment.volume_id
        if call.at_least((2, 70)):
            view["tag"] = None
        if call.at_least((2, 79)):
            view["delete_on_termination"] = False
        return view

    # --- servers ------------------------------------------------------------

    def _server_list(self, call, detail):
        all_projects = call.request.GET.get("all_tenants", "0") not in ("0", "false",
                                                                         "False")
        servers = self.compute.servers(call.token, all_projects)
        view = self._server_detail if detail else self._server_summary
        with self.compute.state.lock:
            return webutil.json_response(
                {"servers": [view(call, server) for server in servers]}
            )

    def list_servers(self, call):
        return self._server_list(call, detail=False)

    def list_servers_detail(self, call):
        return self._server_list(call, detail=True)

    def create_server(self, call):
        body = webutil.entity(webutil.read_json(call.request), "server")
        name = body.get("name")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 255:
            raise exceptions.BadRequest("Invalid input for field/attribute name.")
        flavor_ref = body.get("flavorRef")
        if not flavor_ref:
            raise exceptions.BadRequest("Invalid input for field/attribute "
                                        "flavorRef. Value: None.")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise exceptions.BadRequest("Invalid input for field/attribute "
                                        "metadata.")
        server = self.compute.create_server(
            call.token, name, body.get("imageRef") or None, str(flavor_ref),
            metadata, fail=call.failing,
        )
        view = {"id": server.id, "links": self._links(call, "servers", server.id),
                "OS-DCF:diskConfig": "MANUAL",
                "security_groups": [{"name": "default"}],
                "adminPass": secrets.token_urlsafe(9)}
        return webutil.json_response(
            {"server": view}, status=202,
            headers={"Location": view["links"][0]["href"]},
        )

    def show_server(self, call, server_id):
        server = self.compute.server(call.token, server_id)
        self.compute.observe(server)
        server = self.compute.server(call.token, server_id)
        if call.failing:
            with self.compute.state.lock:
                server.status, server.task_state = "ERROR", None
        with self.compute.state.lock:
            return webutil.json_response(
                {"server": self._server_detail(call, server)}
            )

    def delete_server(self, call, server_id):
        self.compute.delete_server(call.token, server_id, fail=call.failing)
        return webutil.empty_response(204)

    # --- volume attachments -------------------------------------------------

    def list_attachments(self, call, server_id):
        attachments = self.compute.attachments(call.token, server_id)
        return webutil.json_response({"volumeAttachments": [
            self._attachment_view(call, attachment) for attachment in attachments
        ]})

    def show_attachment(self, call, server_id, volume_id):
        attachment = self.compute.attachment(call.token, server_id, volume_id)
        return webutil.json_response(
            {"volumeAttachment": self._attachment_view(call, attachment)}
        )

    @staticmethod
    def _volume_attachment(call):
        body = webutil.entity(webutil.read_json(call.request), "volumeAttachment")
        volume_id = body.get("volumeId")
        if not isinstance(volume_id, str) or not volume_id:
            raise exceptions.BadRequest("Invalid input for field/attribute "
                                        "volumeId.")
        return body, volume_id

    def attach(self, call, server_id):
        body, volume_id = self._volume_attachment(call)
        attachment = self.compute.attach(call.token, server_id, volume_id,
                                         device=body.get("device") or None,
                                         fail=call.failing, extra=call.extra)
        return webutil.json_response(
            {"volumeAttachment": self._attachment_view(call, attachment)}
        )

    def swap(self, call, server_id, volume_id):
        _body, new_volume_id = self._volume_attachment(call)
        self.compute.swap(call.token, server_id, volume_id, new_volume_id)
        return webutil.empty_response(202)

    def detach(self, call, server_id, volume_id):
        self.compute.detach(call.token, server_id, volume_id, fail=call.failing,
                            extra=call.extra)
        return webutil.empty_response(202)
