"""castellan's own in-process key manager for the tests, with one store per
process: :class:`SharedKeyManager` is castellan's ``MockKeyManager``
(``castellan.tests.unit.key_manager.mock_key_manager``: it honours the
``KeyManager`` API, and refuses a None context as Barbican does), whose
instances share their keys, so that one made by ``[key_manager] backend =
tests.unit.keymanager.SharedKeyManager`` sees the secrets a test stored."""

from castellan.common.objects import symmetric_key
from castellan.tests.unit.key_manager import mock_key_manager

#: A request context the fake accepts (it only refuses None).
CONTEXT = object()
BACKEND = "tests.unit.keymanager.SharedKeyManager"


class SharedKeyManager(mock_key_manager.MockKeyManager):
    """MockKeyManager with one store for every instance."""

    shared = {}
    #: The class names of the contexts ``get`` was asked with.
    asked_as = []

    def __init__(self, configuration=None):
        super().__init__(configuration)
        self.keys = SharedKeyManager.shared

    def get(self, context, managed_object_id, metadata_only=False):
        SharedKeyManager.asked_as.append(type(context).__name__)
        return super().get(context, managed_object_id, metadata_only)


def new_secret(data, manager=None):
    """Store ``data`` as an AES key; its id."""
    manager = manager or SharedKeyManager()
    return manager.store(CONTEXT, symmetric_key.SymmetricKey(
        "AES", len(data) * 8, data))
