"""Keystone's side of the local cloud: projects, users, roles and tokens.

Users authenticate with a password or an existing token and are scoped to
their one project (by name and domain, or by id). Tokens are random opaque
strings kept in memory for an hour. The user named ``admin`` holds the
``admin`` role in its project; every user holds ``member`` and ``reader``.
"""

import datetime
import secrets

from karbor_volume_glance.testing.localcloud import exceptions
from karbor_volume_glance.testing.localcloud.state import (
    Project,
    Token,
    User,
    new_hex_id,
    utcnow,
)

DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
TOKEN_LIFETIME = datetime.timedelta(hours=1)
ROLE_NAMES = ("admin", "member", "reader")

#: user name -> (password, project name)
DEFAULT_USERS = {"admin": ("secret", "admin"), "demo": ("secret", "demo")}

AUTH_REQUIRED = "The request you have made requires authentication."


def _domain_matches(ref):
    """Whether a ``{"id"|"name": ...}`` domain reference names our one domain."""
    if not isinstance(ref, dict):
        return False
    return ref.get("id") == DOMAIN_ID or ref.get("name") == DOMAIN_NAME


class Identity:
    """Users, projects and tokens, kept in the shared state."""

    def __init__(self, state, users=None):
        self.state = state
        self.role_ids = {name: new_hex_id() for name in ROLE_NAMES}
        for name, (password, project_name) in (users or DEFAULT_USERS).items():
            project = self.project_by_name(project_name)
            if project is None:
                project = Project(new_hex_id(), project_name)
                state.projects[project.id] = project
            roles = ROLE_NAMES if name == "admin" else ("member", "reader")
            user = User(new_hex_id(), name, password, project.id, roles)
            state.users[user.id] = user

    def project_by_name(self, name):
        for project in self.state.projects.values():
            if project.name == name:
                return project
        return None

    def user_by_name(self, name):
        for user in self.state.users.values():
            if user.name == name:
                return user
        return None

    # --- tokens ---------------------------------------------------------

    def lookup(self, token_id):
        """The valid token ``token_id``, or None."""
        if not token_id:
            return None
        with self.state.lock:
            token = self.state.tokens.get(token_id)
            if token is None:
                return None
            if token.expires_at <= utcnow():
                del self.state.tokens[token_id]
                return None
            return token

    def revoke(self, token_id):
        with self.state.lock:
            return self.state.tokens.pop(token_id, None) is not None

    def issue(self, user, project, methods, expires_at=None):
        now = utcnow()
        token = Token(
            id=secrets.token_urlsafe(48),
            user=user,
            project=project,
            roles=user.roles if project else (),
            methods=tuple(methods),
            issued_at=now,
            expires_at=expires_at or now + TOKEN_LIFETIME,
            audit_id=secrets.token_urlsafe(16),
        )
        with self.state.lock:
            self.state.tokens[token.id] = token
        return token

    def authenticate(self, auth):
        """A new token for the body of ``POST /v3/auth/tokens`` (its ``auth``)."""
        if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
            raise exceptions.BadRequest("Expecting to find identity in auth.")
        identity = auth["identity"]
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise exceptions.BadRequest("Expecting to find methods in identity.")
        expires_at = None
        if "password" in methods:
            user = self._password_user(identity.get("password"))
        elif "token" in methods:
            ref = identity.get("token")
            previous = self.lookup(ref.get("id") if isinstance(ref, dict) else None)
            if previous is None:
                raise exceptions.Unauthorized(AUTH_REQUIRED)
            user, expires_at = previous.user, previous.expires_at
        else:
            raise exceptions.Unauthorized(
                "Attempted to authenticate with an unsupported method."
            )
        project = self._scope(user, auth.get("scope"))
        return self.issue(user, project, methods, expires_at)

    def _password_user(self, password):
        ref = password.get("user") if isinstance(password, dict) else None
        if not isinstance(ref, dict) or "password" not in ref:
            raise exceptions.BadRequest("Expecting to find user in password.")
        with self.state.lock:
            if ref.get("id"):
                user = self.state.users.get(ref["id"])
            elif ref.get("name") and _domain_matches(ref.get("domain")):
                user = self.user_by_name(ref["name"])
            else:
                user = None
        if user is None or not secrets.compare_digest(
            str(ref["password"]), user.password
        ):
            raise exceptions.Unauthorized(AUTH_REQUIRED)
        return user

    def _scope(self, user, scope):
        if scope is None or scope == "unscoped":
            return None
        ref = scope.get("project") if isinstance(scope, dict) else None
        if not isinstance(ref, dict):
            raise exceptions.Unauthorized(
                "The local cloud scopes tokens to projects only."
            )
        with self.state.lock:
            if ref.get("id"):
                project = self.state.projects.get(ref["id"])
            elif ref.get("name") and _domain_matches(ref.get("domain")):
                project = self.project_by_name(ref["name"])
            else:
                project = None
        if project is None:
            raise exceptions.Unauthorized(AUTH_REQUIRED)
        if project.id != user.project_id:
            raise exceptions.Unauthorized(
                f"User {user.id} has no access to project {project.id}"
            )
        return project
