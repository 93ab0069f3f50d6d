"""Named queues of worker agents.

Declare them in ``.aegis.py``::

    from aegis.queue import Queue

    queues = [Queue("review", agent_profile="reviewer", max_parallel=3)]
"""

from aegis.queue.declaration import Queue

__all__ = ["Queue"]
