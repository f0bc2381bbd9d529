"""Calling an Operation's hooks as Karbor's flow does for one resource.

Karbor calls ``on_prepare_begin``, ``on_prepare_finish``, ``on_main`` and
``on_complete`` in that order (for a resource without children), each with
``(checkpoint, resource, context, parameters, **kwargs)`` and always with an
``operation_log`` keyword.
"""

HOOKS = ("on_prepare_begin", "on_prepare_finish", "on_main", "on_complete")


def run_operation(operation, checkpoint, resource, context=None, parameters=None,
                  **kwargs):
    """Run ``operation``'s hooks in Karbor's order; return ``on_main``'s result."""
    kwargs.setdefault("operation_log", None)
    result = None
    for hook in HOOKS:
        value = getattr(operation, hook)(
            checkpoint, resource, context, parameters, **kwargs
        )
        if hook == "on_main":
            result = value
    return result
