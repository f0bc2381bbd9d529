"""Cinder v3 over HTTP, at ``/volume``.

``/v3[/<project_id>]/volumes`` (create, list, ``detail``, show, delete with
``?cascade``), ``.../volumes/<id>/metadata`` (show, ``POST`` merges, ``PUT`` replaces),
``.../volumes/<id>/action`` (``os-volume_upload_image``,
``os-reset_status``, ``os-force_delete``, ``os-set_bootable``,
``os-set_image_metadata``, ``os-unset_image_metadata``),
``.../snapshots`` (create, list, ``detail``, show, delete) and
``.../snapshots/<id>/action``
(``os-reset_status``, ``os-force_delete``); ``/types`` (list, show),
``/os-availability-zone``, ``/limits`` and ``/os-quota-sets/<project>``
(show, ``?usage=True``); and from microversion 3.3
``.../messages`` (list, show, delete: Cinder's user messages, see
:mod:`.messages`; filters ``resource_uuid``, ``resource_type``,
``event_id``, ``request_id``, ``message_level`` from 3.5, newest first).
Microversions 3.0 to 3.70 (see
:mod:`.microversions`); the views add the fields of the microversions that
introduced them. Errors are Cinder faults (``{"badRequest": {"message",
"code"}}``). Version documents at ``/volume/`` and ``/volume/v3/``.
"""

from oslo_utils import strutils, uuidutils

from karbor_volume_glance.testing.localcloud import (
    errors,
    exceptions,
    microversions,
    service,
    versions,
    webutil,
)


def _time(value):
    return value.isoformat(timespec="microseconds") if value else None


def _flag(value, name):
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise exceptions.BadRequest(
            f"Invalid input received: '{name}' must be a boolean, got {value!r}."
        ) from None


def _uuid(body, name):
    """A field Cinder's schema takes as a UUID (or null): 400 otherwise, as
    its validation middleware says it."""
    value = body.get(name)
    if value is not None and not (isinstance(value, str)
                                  and uuidutils.is_uuid_like(value)):
        raise exceptions.BadRequest(
            f"Invalid input for field/attribute {name}. Value: {value}. "
            f"{value!r} is not valid under any of the given schemas")
    return value


def _visibility(args):
    """upload-to-image's ``visibility`` from 3.1: absent means private; a
    value must be one of Cinder's schema (null included: 400)."""
    if "visibility" not in args:
        return "private"
    value = args["visibility"]
    if not isinstance(value, str):
        raise exceptions.BadRequest(
            f"Invalid input for field/attribute visibility. Value: {value}. "
            f"{value!r} is not of type 'string'")
    return value


def _metadata(value):
    value = value or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise exceptions.BadRequest(
            "Invalid input received: metadata must be a dict of strings."
        )
    return value


def _text(body, *names):
    for name in names:
        value = body.get(name)
        if value is not None:
            if not isinstance(value, str) or len(value) > 255:
                raise exceptions.BadRequest(
                    f"Invalid input received: {name} must be a string of at "
                    "most 255 characters."
                )
            return value
    return None


class CinderService(service.Service):
    microversions = microversions.CINDER

    def __init__(self, identity, catalog, faults, jobs, volumes):
        super().__init__(identity, catalog, faults, jobs)
        self.volumes = volumes
        add = self.router.add
        add("GET", "/volumes/detail", self.list_volumes_detail,
            step="volume.list")
        add("GET", "/volumes", self.list_volumes, step="volume.list")
        add("POST", "/volumes", self.create_volume, step="volume.create")
        add("GET", "/volumes/{volume_id}", self.show_volume, step="volume.get")
        add("DELETE", "/volumes/{volume_id}", self.delete_volume,
            step="volume.delete")
        add("POST", "/volumes/{volume_id}/action", self.volume_action)
        add("GET", "/volumes/{volume_id}/metadata", self.show_volume_metadata)
        add("POST", "/volumes/{volume_id}/metadata", self.update_volume_metadata)
        add("PUT", "/volumes/{volume_id}/metadata", self.replace_volume_metadata)
        add("GET", "/snapshots/detail", self.list_snapshots_detail,
            step="snapshot.list")
        add("GET", "/snapshots", self.list_snapshots, step="snapshot.list")
        add("POST", "/snapshots", self.create_snapshot, step="snapshot.create")
        add("GET", "/snapshots/{snapshot_id}", self.show_snapshot,
            step="snapshot.get")
        add("DELETE", "/snapshots/{snapshot_id}", self.delete_snapshot,
            step="snapshot.delete")
        add("POST", "/snapshots/{snapshot_id}/action", self.snapshot_action)
        add("GET", "/types", self.list_types)
        add("GET", "/types/{type_id}", self.show_type)
        add("GET", "/os-availability-zone", self.list_zones)
        add("GET", "/limits", self.show_limits)
        add("GET", "/os-quota-sets/{project_id}", self.show_quotas)
        add("GET", "/messages", self.list_messages)
        add("GET", "/messages/{message_id}", self.show_message)
        add("DELETE", "/messages/{message_id}", self.delete_message)

    # --- service plumbing -------------------------------------------------

    def discovery(self, request):
        if request.method != "GET":
            return None
        if request.path_info in ("", "/"):
            return webutil.json_response(versions.volume_root(request.host_url),
                                         status=300)
        if request.path_info in ("/v3", "/v3/"):
            return webutil.json_response(versions.volume_root(request.host_url))
        return None

    def api_path(self, path):
        if not path.startswith("/v3/"):
            raise exceptions.NotFound("The resource could not be found.")
        rest = path[len("/v3"):]
        first, _, below = rest[1:].partition("/")
        if first in self.identity.state.projects:
            return "/" + below, first
        return rest, None

    def render_error(self, request, error):
        return errors.fault(error.code, error.message, error.headers)

    # --- views --------------------------------------------------------------

    def _links(self, call, kind, record_id):
        project = call.token.project_id
        host = call.host_url
        return [
            {"rel": "self", "href": f"{host}/volume/v3/{project}/{kind}/{record_id}"},
            {"rel": "bookmark", "href": f"{host}/volume/{project}/{kind}/{record_id}"},
        ]

    def _volume_summary(self, call, volume):
        return {"id": volume.id, "name": volume.name,
                "links": self._links(call, "volumes", volume.id)}

    def _volume_detail(self, call, volume):
        attachment = volume.attachment
        attachments = []
        if attachment is not None and volume.status in ("in-use", "detaching",
                                                         "uploading"):
            attachments.append({
                "id": volume.id, "attachment_id": attachment.id,
                "volume_id": volume.id, "server_id": attachment.server_id,
                "host_name": None, "device": attachment.device,
                "attached_at": _time(attachment.attached_at),
            })
        view = {
            **self._volume_summary(call, volume),
            "status": volume.status, "size": volume.size,
            "description": volume.description,
            "availability_zone": volume.availability_zone,
            "bootable": "true" if volume.bootable else "false",
            "encrypted": bool(self.volumes.volume_type(
                volume.volume_type)["encryption"]),
            "multiattach": volume.multiattach, "attachments": attachments,
            "metadata": dict(volume.metadata), "snapshot_id": volume.snapshot_id,
            "source_volid": volume.source_volid, "consistencygroup_id": None,
            "volume_type": volume.volume_type, "user_id": volume.user_id,
            "replication_status": None, "migration_status": None,
            "created_at": _time(volume.created_at),
            "updated_at": _time(volume.updated_at),
            "os-vol-tenant-attr:tenant_id": volume.project_id,
            "os-vol-mig-status-attr:migstat": None,
            "os-vol-mig-status-attr:name_id": None,
        }
        if volume.image_metadata:
            view["volume_image_metadata"] = dict(volume.image_metadata)
        if call.token.is_admin:
            view["os-vol-host-attr:host"] = "localcloud@local#local"
        optional = (((3, 13), "group_id", None), ((3, 21), "provider_id", None),
                    ((3, 48), "shared_targets", False),
                    ((3, 48), "service_uuid", "00000000-0000-0000-0000-000000000001"),
                    ((3, 63), "volume_type_id", None),
                    ((3, 65), "consumes_quota", True),
                    ((3, 69), "cluster_name", None))
        view.update({name: value for version, name, value in optional
                     if call.at_least(version)})
        return view

    def _snapshot_view(self, call, snapshot, detail=True):
        view = {
            "id": snapshot.id, "name": snapshot.name,
            "description": snapshot.description, "status": snapshot.status,
            "size": snapshot.size, "volume_id": snapshot.volume_id,
            "metadata": dict(snapshot.metadata),
            "created_at": _time(snapshot.created_at),
            "updated_at": _time(snapshot.updated_at),
        }
        if detail:
            progress = "100%" if snapshot.status == "available" else "0%"
            view["os-extended-snapshot-attributes:progress"] = progress
            view["os-extended-snapshot-attributes:project_id"] = snapshot.project_id
        optional = (((3, 14), "group_snapshot_id", None),
                    ((3, 41), "user_id", snapshot.user_id),
                    ((3, 65), "consumes_quota", True))
        view.update({name: value for version, name, value in optional
                     if call.at_least(version)})
        return view

    def _page(self, call, records):
        """``(page, links)`` after the query's ``marker`` and ``limit``."""
        query = call.request.GET
        for key in ("name", "status", "volume_id"):
            if key in query:
                records = [r for r in records if getattr(r, key, None) == query[key]]
        marker = query.get("marker")
        if marker is not None:
            ids = [record.id for record in records]
            if marker not in ids:
                raise exceptions.NotFound(f"Marker {marker} could not be found.")
            records = records[ids.index(marker) + 1:]
        links = []
        if "limit" in query:
            try:
                limit = int(query["limit"])
            except ValueError:
                raise exceptions.BadRequest("limit param must be an integer") from None
            if limit < 0:
                raise exceptions.BadRequest("limit param must be positive")
            if limit and len(records) > limit:
                records = records[:limit]
                href = (f"{call.request.path_url}?limit={limit}"
                        f"&marker={records[-1].id}")
                links.append({"rel": "next", "href": href})
            records = records[:limit]
        return records, links

    def _all_projects(self, call):
        value = call.request.GET.get("all_tenants", "0")
        return strutils.bool_from_string(value, default=False)

    # --- volumes ----------------------------------------------------------

    def _volume_list(self, call, detail):
        records = self.volumes.volumes(call.token, self._all_projects(call))
        page, links = self._page(call, records)
        view = self._volume_detail if detail else self._volume_summary
        body = {"volumes": [view(call, volume) for volume in page]}
        if links:
            body["volumes_links"] = links
        return webutil.json_response(body)

    def list_volumes(self, call):
        return self._volume_list(call, detail=False)

    def list_volumes_detail(self, call):
        return self._volume_list(call, detail=True)

    def create_volume(self, call):
        body = webutil.entity(webutil.read_json(call.request), "volume")
        if body.get("backup_id"):
            raise exceptions.NotFound(
                f"Backup {body['backup_id']} could not be found."
            )
        volume = self.volumes.create_volume(
            call.token, size=body.get("size"),
            name=_text(body, "name", "display_name"),
            description=_text(body, "description", "display_description"),
            metadata=_metadata(body.get("metadata")),
            snapshot_id=_uuid(body, "snapshot_id"),
            source_volid=_uuid(body, "source_volid"),
            image_id=body.get("imageRef") or body.get("image_id"),
            volume_type=body.get("volume_type"),
            availability_zone=body.get("availability_zone"), fail=call.failing,
            extra=call.extra,
        )
        return webutil.json_response({"volume": self._volume_detail(call, volume)},
                                     status=202)

    def show_volume(self, call, volume_id):
        volume = self.volumes.volume(call.token, volume_id)
        self.volumes.observe(volume, call.extra, call.failing)
        volume = self.volumes.volume(call.token, volume_id)
        return webutil.json_response({"volume": self._volume_detail(call, volume)})

    def delete_volume(self, call, volume_id):
        cascade = _flag(call.request.GET.get("cascade", "false"), "cascade")
        self.volumes.delete_volume(call.token, volume_id, cascade=cascade,
                                   fail=call.failing, busy=call.busy,
                                   extra=call.extra)
        return webutil.empty_response(202)

    def show_volume_metadata(self, call, volume_id):
        return webutil.json_response(
            {"metadata": self.volumes.volume_metadata(call.token, volume_id)})

    def _set_volume_metadata(self, call, volume_id, replace):
        metadata = _metadata(webutil.read_json(call.request).get("metadata"))
        return webutil.json_response({"metadata": self.volumes.update_volume_metadata(
            call.token, volume_id, metadata, replace)})

    def update_volume_metadata(self, call, volume_id):
        return self._set_volume_metadata(call, volume_id, replace=False)

    def replace_volume_metadata(self, call, volume_id):
        return self._set_volume_metadata(call, volume_id, replace=True)

    def volume_action(self, call, volume_id):
        name, args = self._action(call)
        if name == "os-volume_upload_image":
            call.fault = self._take_fault("volume.upload_to_image")
            return self._upload_to_image(call, volume_id, args)
        volume = self.volumes.volume(call.token, volume_id)
        if name == "os-reset_status":
            self.volumes.reset_status(call.token, volume, args.get("status"))
        elif name == "os-force_delete":
            self._admin_only(call, name)
            self.volumes.delete_volume(call.token, volume_id, force=True)
        elif name == "os-set_bootable":
            self.volumes.set_bootable(call.token, volume_id, _flag(
                args.get("bootable"), "bootable"))
            return webutil.empty_response(200)
        elif name == "os-set_image_metadata":
            metadata = self.volumes.set_image_metadata(
                call.token, volume_id, _metadata(args.get("metadata")))
            return webutil.json_response({"metadata": metadata})
        elif name == "os-unset_image_metadata":
            self.volumes.unset_image_metadata(call.token, volume_id,
                                              args.get("key"))
            return webutil.empty_response(200)
        else:
            raise exceptions.BadRequest(f"There is no such action: {name}")
        return webutil.empty_response(202)

    # --- types, zones, limits and quotas ------------------------------------

    @staticmethod
    def _type_view(record):
        return {"id": record["id"], "name": record["name"],
                "description": record["description"],
                "is_public": record["is_public"],
                "os-volume-type-access:is_public": record["is_public"],
                "extra_specs": dict(record["extra_specs"]),
                "qos_specs_id": None}

    def list_types(self, call):
        types = sorted(self.volumes.volume_types.values(),
                       key=lambda record: record["name"])
        return webutil.json_response(
            {"volume_types": [self._type_view(record) for record in types]})

    def show_type(self, call, type_id):
        record = self.volumes.volume_type(type_id)
        return webutil.json_response({"volume_type": self._type_view(record)})

    def list_zones(self, call):
        zones = [{"zoneName": zone, "zoneState": {"available": True}}
                 for zone in self.volumes.availability_zones]
        return webutil.json_response({"availabilityZoneInfo": zones})

    def show_limits(self, call):
        return webutil.json_response({"limits": {
            "rate": [], "absolute": self.volumes.limits(call.token)}})

    def show_quotas(self, call, project_id):
        usage = _flag(call.request.GET.get("usage", "false"), "usage")
        return webutil.json_response({"quota_set": self.volumes.quota_usage(
            call.token, project_id, usage=usage)})

    @staticmethod
    def _action(call):
        body = webutil.read_json(call.request)
        if len(body) != 1:
            raise exceptions.BadRequest("Malformed request body")
        name, args = next(iter(body.items()))
        return name, args if isinstance(args, dict) else {}

    @staticmethod
    def _admin_only(call, action):
        if not call.token.is_admin:
            raise exceptions.Forbidden(f"Policy doesn't allow {action} to be "
                                       "performed.")

    def _upload_to_image(self, call, volume_id, args):
        image_name = args.get("image_name")
        if not image_name:
            raise exceptions.BadRequest("No image_name was specified in request.")
        # Below 3.1 Cinder does not set it: Glance's default (shared) applies.
        visibility, protected = "shared", False
        if call.at_least((3, 1)):
            visibility = _visibility(args)
            protected = _flag(args.get("protected", False), "protected")
        volume, image = self.volumes.upload_to_image(
            call.token, volume_id, image_name,
            force=_flag(args.get("force", False), "force"),
            disk_format=args.get("disk_format") or "raw",
            container_format=args.get("container_format") or "bare",
            visibility=visibility, protected=protected, fail=call.failing,
            extra=call.extra,
        )
        view = {
            "id": volume.id, "updated_at": _time(volume.updated_at),
            "status": "uploading", "display_description": volume.description,
            "size": volume.size, "volume_type": {"name": volume.volume_type},
            "image_id": image.id, "container_format": image.container_format,
            "disk_format": image.disk_format, "image_name": image.name,
        }
        if call.at_least((3, 1)):
            view.update(protected=image.protected, visibility=image.visibility)
        return webutil.json_response({"os-volume_upload_image": view}, status=202)

    # --- snapshots --------------------------------------------------------

    def _snapshot_list(self, call, detail):
        records = self.volumes.snapshots(call.token, self._all_projects(call))
        page, links = self._page(call, records)
        body = {"snapshots": [self._snapshot_view(call, s, detail) for s in page]}
        if links:
            body["snapshots_links"] = links
        return webutil.json_response(body)

    def list_snapshots(self, call):
        return self._snapshot_list(call, detail=False)

    def list_snapshots_detail(self, call):
        return self._snapshot_list(call, detail=True)

    def create_snapshot(self, call):
        body = webutil.entity(webutil.read_json(call.request), "snapshot")
        volume_id = _uuid(body, "volume_id")
        if not volume_id:
            raise exceptions.BadRequest("Invalid input received: 'volume_id' is "
                                        "a required property.")
        snapshot = self.volumes.create_snapshot(
            call.token, volume_id, force=_flag(body.get("force", False), "force"),
            name=_text(body, "name", "display_name"),
            description=_text(body, "description", "display_description"),
            metadata=_metadata(body.get("metadata")),
            in_use_allowed=call.at_least((3, 66)), fail=call.failing,
            extra=call.extra,
        )
        return webutil.json_response(
            {"snapshot": self._snapshot_view(call, snapshot)}, status=202
        )

    def show_snapshot(self, call, snapshot_id):
        snapshot = self.volumes.snapshot(call.token, snapshot_id)
        self.volumes.observe(snapshot, call.extra, call.failing)
        snapshot = self.volumes.snapshot(call.token, snapshot_id)
        return webutil.json_response({"snapshot": self._snapshot_view(call, snapshot)})

    def delete_snapshot(self, call, snapshot_id):
        self.volumes.delete_snapshot(call.token, snapshot_id, fail=call.failing,
                                     busy=call.busy, extra=call.extra)
        return webutil.empty_response(202)

    def snapshot_action(self, call, snapshot_id):
        name, args = self._action(call)
        snapshot = self.volumes.snapshot(call.token, snapshot_id)
        if name == "os-reset_status":
            self.volumes.reset_status(call.token, snapshot, args.get("status"))
        elif name == "os-force_delete":
            self._admin_only(call, name)
            self.volumes.delete_snapshot(call.token, snapshot_id, force=True)
        else:
            raise exceptions.BadRequest(f"There is no such action: {name}")
        return webutil.empty_response(202)

    # --- user messages (3.3) ----------------------------------------------

    @staticmethod
    def _messages_api(call):
        if not call.at_least((3, 3)):
            version = ".".join(map(str, call.version or (3, 0)))
            raise exceptions.NotFound(
                f"API version {version} is not supported on this method.")

    def _message(self, call, message_id):
        self._messages_api(call)
        with self.volumes.state.lock:
            message = self.volumes.state.messages.get(message_id)
        if message is None or not (call.token.is_admin or
                                   message.project_id == call.token.project_id):
            raise exceptions.NotFound(f"Message {message_id} could not be found.")
        return message

    def _message_view(self, call, message):
        return {
            "id": message.id, "event_id": message.event_id,
            "user_message": message.user_message,
            "message_level": message.message_level,
            "resource_type": message.resource_type,
            "resource_uuid": message.resource_uuid,
            "request_id": message.request_id,
            "created_at": _time(message.created_at),
            "guaranteed_until": _time(message.guaranteed_until),
            "links": self._links(call, "messages", message.id),
        }

    def list_messages(self, call):
        self._messages_api(call)
        with self.volumes.state.lock:
            found = [m for m in self.volumes.state.messages.values()
                     if m.project_id == call.token.project_id]
        found.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        links = []
        if call.at_least((3, 5)):
            query = call.request.GET
            for key in ("resource_uuid", "resource_type", "event_id",
                        "request_id", "message_level"):
                if key in query:
                    found = [m for m in found if getattr(m, key) == query[key]]
            found, links = self._page(call, found)
        body = {"messages": [self._message_view(call, m) for m in found]}
        if links:
            body["messages_links"] = links
        return webutil.json_response(body)

    def show_message(self, call, message_id):
        message = self._message(call, message_id)
        return webutil.json_response({"message": self._message_view(call, message)})

    def delete_message(self, call, message_id):
        message = self._message(call, message_id)
        with self.volumes.state.lock:
            self.volumes.state.messages.pop(message.id, None)
        return webutil.empty_response(204)
