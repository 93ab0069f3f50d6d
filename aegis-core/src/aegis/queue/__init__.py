"""Named queues of worker agents.

Declare them in ``.aegis.py``::

    from aegis.queue import Queue

    queues = [Queue("review", agent_profile="reviewer", max_parallel=3)]

The runtime lives in submodules, imported where needed (they pull in the session
layer): :mod:`aegis.queue.manager` (``QueueManager``), :mod:`aegis.queue.backend`
(the ``QueueBackend`` protocol a plugin implements), :mod:`aegis.queue.backends`
(``get_queue_backend``) and :mod:`aegis.queue.sqlite_backend`.
"""

from aegis.queue.declaration import Queue
from aegis.queue.task import TaskRecord, TaskStatus

__all__ = ["Queue", "TaskRecord", "TaskStatus"]
