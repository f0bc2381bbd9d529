"""Keystone v3 over HTTP, at ``/identity``.

``POST /v3/auth/tokens`` (password or token method, project scope by name and
domain or by id; 201 with ``X-Subject-Token``), ``GET``/``HEAD``/``DELETE
/v3/auth/tokens`` (validate, check, revoke the ``X-Subject-Token``; 404 for
an unknown one, as Keystone), ``GET /v3/auth/catalog`` and
``GET /v3/auth/projects``; version documents at ``/identity`` and
``/identity/v3``.
"""

from karbor_volume_glance.testing.localcloud import (
    errors,
    exceptions,
    identity,
    service,
    versions,
    webutil,
)

_EPOCH_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_DOMAIN = {"id": identity.DOMAIN_ID, "name": identity.DOMAIN_NAME}


def _time(value):
    return value.strftime(_EPOCH_FORMAT)


class KeystoneService(service.Service):
    needs_project = False

    def __init__(self, *args):
        super().__init__(*args)
        add = self.router.add
        add("POST", "/auth/tokens", self.create_token, step="token.create",
            authenticated=False)
        add("GET", "/auth/tokens", self.validate_token)
        add("HEAD", "/auth/tokens", self.check_token)
        add("DELETE", "/auth/tokens", self.revoke_token)
        add("GET", "/auth/catalog", self.get_catalog)
        add("GET", "/auth/projects", self.get_projects)

    def discovery(self, request):
        path = request.path_info
        if request.method != "GET":
            return None
        if path in ("", "/"):
            return webutil.json_response(versions.identity_root(request.host_url),
                                         status=300)
        if path in ("/v3", "/v3/"):
            return webutil.json_response(
                {"version": versions.identity_v3(request.host_url)}
            )
        return None

    def api_path(self, path):
        if not path.startswith("/v3/"):
            raise exceptions.NotFound("The resource could not be found.")
        return path[len("/v3"):], None

    def render_error(self, request, error):
        return errors.keystone(error.code, error.message, error.headers)

    def token_body(self, token, include_catalog=True):
        user = token.user
        body = {
            "methods": list(token.methods),
            "user": {"id": user.id, "name": user.name, "domain": dict(_DOMAIN),
                     "password_expires_at": None},
            "audit_ids": [token.audit_id],
            "expires_at": _time(token.expires_at),
            "issued_at": _time(token.issued_at),
        }
        if token.project is not None:
            body["project"] = {"id": token.project.id, "name": token.project.name,
                               "domain": dict(_DOMAIN)}
            body["is_domain"] = False
            body["roles"] = [{"id": self.identity.role_ids[name], "name": name}
                             for name in token.roles]
            if include_catalog:
                body["catalog"] = self.catalog.for_project(token.project.id)
        return {"token": body}

    def _subject(self, call):
        token = self.identity.lookup(call.request.headers.get("X-Subject-Token"))
        if token is None:
            raise exceptions.NotFound("Could not find token.")
        return token

    def create_token(self, call):
        body = webutil.read_json(call.request)
        token = self.identity.authenticate(body.get("auth"))
        include_catalog = "nocatalog" not in call.request.GET
        return webutil.json_response(self.token_body(token, include_catalog),
                                     status=201,
                                     headers={"X-Subject-Token": token.id})

    def validate_token(self, call):
        token = self._subject(call)
        include_catalog = "nocatalog" not in call.request.GET
        return webutil.json_response(self.token_body(token, include_catalog),
                                     headers={"X-Subject-Token": token.id})

    def check_token(self, call):
        token = self._subject(call)
        return webutil.empty_response(200, {"X-Subject-Token": token.id})

    def revoke_token(self, call):
        token = self._subject(call)
        self.identity.revoke(token.id)
        return webutil.empty_response(204)

    def get_catalog(self, call):
        project_id = call.token.project_id
        catalog = self.catalog.for_project(project_id) if project_id else []
        return webutil.json_response({"catalog": catalog})

    def get_projects(self, call):
        with self.identity.state.lock:
            project = self.identity.state.projects[call.token.user.project_id]
        return webutil.json_response({"projects": [
            {"id": project.id, "name": project.name,
             "domain_id": project.domain_id, "enabled": True, "is_domain": False}
        ]})
