"""Readiness checks: is everything the plugin needs there and answering?

After Cinder's backup-driver initialization spec: the configuration is
checked when the plugin is built (:func:`conf.load_settings`), and
:func:`check` probes, on demand, the bank (a probe object written, read back
and deleted) and, given a request context, the cloud's endpoints: Cinder and
Glance, which every operation needs, and Nova, which only a restore into a
server needs (so it is reported but does not make the plugin unready).
:func:`wait_until_ready` re-checks every ``init_check_interval`` seconds.
"""

import dataclasses
import time

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import probe

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Component:
    name: str
    ready: bool
    detail: str
    required: bool = True

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Readiness:
    components: tuple

    @property
    def ready(self):
        return all(c.ready for c in self.components if c.required)

    def reason(self):
        """Why not ready, one line: ``bank: …; cinder: …``."""
        return "; ".join(f"{c.name}: {c.detail}" for c in self.components
                         if c.required and not c.ready)

    def to_dict(self):
        return {"ready": self.ready,
                "components": [c.to_dict() for c in self.components]}


def _probe(name, call, required=True):
    try:
        detail = call()
    except exceptions.BankNotReady as exc:
        return Component(name, False, exc.reason, required)
    except Exception as exc:
        return Component(name, False, f"{type(exc).__name__}: {exc}", required)
    return Component(name, True, detail or "ok", required)


def _configuration(settings):
    # a Settings is checked by the options' types when it is made
    return "valid"


def _bank(bank):
    probe.probe(bank)
    return "probe object written, read back and deleted"


def _service(client_factory, context, service):
    client = client_factory.create_client(service, context)
    if service == "cinder":
        client.volumes.list(limit=1)
    elif service == "glance":
        next(iter(client.images.list(limit=1)), None)
    else:
        client.servers.list(limit=1)
    return "answers"


def check(settings, bank=None, client_factory=None, context=None):
    """Readiness of the configuration, and of the bank and cloud if given."""
    components = [_probe("configuration", lambda: _configuration(settings))]
    if bank is not None:
        components.append(_probe("bank", lambda: _bank(bank)))
    if context is not None and client_factory is not None:
        for service, required in (("cinder", True), ("glance", True),
                                  ("nova", False)):
            components.append(_probe(
                service,
                lambda service=service: _service(client_factory, context, service),
                required))
    return Readiness(tuple(components))


def wait_until_ready(check_once, interval, timeout, sleep=time.sleep,
                     clock=time.monotonic):
    """Call ``check_once()`` until it is ready or ``timeout`` seconds passed.

    Returns the last Readiness. Logs each failed check and the recovery.
    """
    deadline = clock() + timeout
    readiness = check_once()
    failed = False
    while not readiness.ready and clock() + interval <= deadline:
        failed = True
        LOG.warning("Not ready: %s; checking again in %s s", readiness.reason(),
                    interval)
        sleep(interval)
        readiness = check_once()
    if failed and readiness.ready:
        LOG.info("Ready again")
    return readiness
