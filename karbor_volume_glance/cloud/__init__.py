"""The cloud side: the client facade, polling, temporary resources, client factories.

Operations use :class:`.facade.Cloud` and :class:`.cleanup.TemporaryResources`;
nothing else in the package talks to a client.
"""
