"""The exception that ends a workflow run as failed (rather than crashed)."""


class WorkflowError(Exception):
    """Expected failure inside a workflow (predicate violated, retry exhausted, etc.).

    Workflows raise this for clean failure reporting. Any other exception is
    treated as an unexpected crash, and its traceback is recorded.
    """
