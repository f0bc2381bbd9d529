"""What a plan's protect or restore returns: every volume's outcome.

:class:`PlanResult` is the standalone runner's
:class:`~karbor_volume_glance.standalone.runner.Result` (checkpoint id, one
:class:`~karbor_volume_glance.standalone.runner.Outcome` per volume in the
checkpoint's order) plus the plan, the site, the checkpoint's status after
the run, and ``kept``: the volumes a resumed protect found already protected
and left alone (their outcomes are ok).
"""

import dataclasses

from karbor_volume_glance.standalone.runner import Result


@dataclasses.dataclass
class PlanResult(Result):
    plan: str = ""
    site: str = ""
    status: str | None = None
    kept: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        data = super().to_dict()
        for row in data["volumes"]:
            if row["volume_id"] in self.kept:
                row["kept"] = True
        data.update(plan=self.plan, site=self.site, status=self.status)
        return data
