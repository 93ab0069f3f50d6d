"""The demo project: agents on the built-in offline `scripted` provider.

Nothing here needs a network or an account. `make demo` runs aegis in this folder.
"""

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue

agents = {
    "planner": Agent(
        description="breaks a goal into steps",
        provider=Scripted(
            rules=[
                ScriptRule(
                    match=r"(?i)plan (.+)",
                    reply="Plan for {0}: 1. read the code 2. write a test 3. make it pass",
                ),
            ]
        ),
    ),
    "worker": Agent(
        description="does one step, using the shell",
        provider=Scripted(
            rules=[
                ScriptRule(
                    match=r"(?i)count the files",
                    tool_calls=(ScriptedToolCall(tool="bash", input={"command": "ls | wc -l"}),),
                    reply="I counted the files.",
                ),
            ]
        ),
    ),
}
default_agent = "planner"

queues = [Queue("work", agent_profile="worker", max_parallel=2)]
