"""A stand-in for Karbor's RequestContext, as far as client factories use it."""

import dataclasses
import uuid


@dataclasses.dataclass
class FakeContext:
    project_id: str
    user_id: str
    auth_token: str = "fake-token"
    service_catalog: tuple | list = ()
    is_admin: bool = False
    request_id: str = dataclasses.field(default_factory=lambda: f"req-{uuid.uuid4()}")

    def to_dict(self):
        return dataclasses.asdict(self)
