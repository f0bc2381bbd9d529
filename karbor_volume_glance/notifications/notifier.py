"""The plugin's oslo.messaging Notifier, configured as OpenStack services do.

From the plugin's own ConfigOpts: ``[oslo_messaging_notifications] driver``
and ``topics`` (``notifications`` by default), the transport from its
``transport_url`` or ``[DEFAULT] transport_url``. With no driver nothing is
sent and no payload is even built, and oslo.messaging is not even imported
(it imports oslo.service and eventlet: a third of a second of every command
line's start): :func:`configured_drivers` reads the driver option from the
configuration's own files when oslo.messaging has not registered it yet.
Sending never fails an operation: an error is logged and the operation goes
on.
"""

import socket
import warnings

from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

PUBLISHER = "volume_glance"
#: oslo.messaging's group of the notification options.
GROUP = "oslo_messaging_notifications"


def _oslo_messaging():
    """oslo.messaging, imported when first needed.

    It imports oslo.service and eventlet, whose deprecation warnings say
    nothing to our users; importing it costs about a third of a second.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's own class is a Warning
        import oslo_messaging
    return oslo_messaging


def register_opts(conf):
    """Register oslo.messaging's notification options on ``conf`` (as
    building a notifier with a driver does), e.g. to override them."""
    _oslo_messaging().get_notification_transport(conf)


def _read_driver(conf):
    """``[oslo_messaging_notifications] driver`` as ``conf``'s files and
    environment set it, read without oslo.messaging: a ConfigOpts of the
    same sources with that one option (oslo.messaging's declaration: a
    MultiStrOpt, empty by default)."""
    sources = []
    for name, flag in (("config_file", "--config-file"),
                       ("config_dir", "--config-dir")):
        try:
            paths = conf[name]
        except cfg.NoSuchOptError:  # a ConfigOpts never called: no files
            paths = None
        if isinstance(paths, str):
            paths = [paths]
        for path in paths or ():
            sources += [flag, path]
    probe = cfg.ConfigOpts()
    probe.register_opt(cfg.MultiStrOpt("driver", default=[]), group=GROUP)
    probe(sources, project=None, default_config_files=[],
          default_config_dirs=[])
    return list(probe[GROUP].driver)


def configured_drivers(conf):
    """The notification drivers ``conf`` names (``noop`` left out): read
    from the registered option when oslo.messaging registered it on
    ``conf`` (Karbor's own configuration, a notifier built before), else
    from ``conf``'s sources (:func:`_read_driver`)."""
    if GROUP in conf:
        drivers = conf[GROUP].driver
    else:
        drivers = _read_driver(conf)
    return [name for name in drivers if name != "noop"]


def _context_dict(context):
    """A request context as oslo.messaging sends it: a plain dict."""
    if context is None:
        return {}
    if isinstance(context, dict):
        return dict(context)
    to_dict = getattr(context, "to_dict", None)
    if callable(to_dict):
        try:
            return dict(to_dict())
        except Exception:  # a context we cannot serialise is not worth failing
            pass
    return {key: getattr(context, key, None)
            for key in ("project_id", "user_id", "request_id")}


class Notifier:
    """Sends ``volume_glance.*`` notifications; never raises."""

    def __init__(self, notifier=None, host=None):
        self._notifier = notifier
        self.host = host or socket.gethostname()

    @classmethod
    def from_config(cls, conf=None, host=None):
        """The notifier ``conf`` describes; disabled when it names no driver."""
        if conf is None:
            return cls(host=host)
        host = host or socket.gethostname()
        try:
            if not configured_drivers(conf):
                return cls(host=host)
        except cfg.Error:  # oslo.messaging's own reading says what is wrong
            pass
        oslo_messaging = _oslo_messaging()
        try:
            transport = oslo_messaging.get_notification_transport(conf)
            notifier = oslo_messaging.Notifier(
                transport, publisher_id=f"{PUBLISHER}.{host}")
        except (cfg.Error, oslo_messaging.MessagingException, ValueError) as exc:
            LOG.warning("Notifications are off: cannot set up oslo.messaging: "
                        "%s: %s", type(exc).__name__, exc)
            return cls(host=host)
        drivers = [name for name in conf.oslo_messaging_notifications.driver
                   if name != "noop"]  # Notifier.is_enabled() says yes to none
        return cls(notifier if drivers else None, host)

    @property
    def enabled(self):
        return self._notifier is not None

    def info(self, context, event_type, payload):
        self._send("info", context, event_type, payload)

    def error(self, context, event_type, payload):
        self._send("error", context, event_type, payload)

    def _send(self, priority, context, event_type, payload):
        if self._notifier is None:
            return
        try:
            getattr(self._notifier, priority)(_context_dict(context), event_type,
                                              payload)
        except Exception as exc:  # a notification is never worth an operation
            LOG.warning("Could not send notification %s: %s: %s", event_type,
                        type(exc).__name__, exc)
