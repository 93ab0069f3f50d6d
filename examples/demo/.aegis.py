"""The demo project: agents on the built-in offline `scripted` provider.

Nothing here needs a network or an account. `make demo` runs aegis in this folder.
"""

import anyio

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis.workflow import WorkflowEngine, workflow

agents = {
    "planner": Agent(
        description="breaks a goal into steps",
        provider=Scripted(
            rules=[
                ScriptRule(
                    match=r"(?i)plan (.+)",
                    reply="Plan for {1}: 1. list the files 2. remove the stale ones 3. report",
                ),
                ScriptRule(match=r"(?i)hello", reply="Hello again! The plan still stands."),
            ]
        ),
    ),
    "worker": Agent(
        description="does one step, using the shell",
        provider=Scripted(
            rules=[
                ScriptRule(
                    match=r"(?i)count the files",
                    tool_calls=(ScriptedToolCall(tool="bash", input={"command": "ls -A | wc -l"}),),
                    reply="I counted {output} file(s) here.",
                ),
            ]
        ),
    ),
}
default_agent = "planner"

queues = [Queue("work", agent_profile="worker", max_parallel=2)]


@workflow
async def demo(engine: WorkflowEngine, tasks: int = 3) -> str:
    """The tour of `make demo`: conversations, a tool call, and a queue of workers."""
    planner = await engine.spawn("planner")
    plan = await engine.ask(planner, "plan the cleanup of this folder")
    thanks = await engine.ask(planner, "hello again, planner")
    worker = await engine.spawn("worker")
    counted = await engine.ask(worker, "count the files")
    engine.log(f"enqueueing {tasks} tasks on the 'work' queue (2 at a time)")
    results: list[str] = []

    async def one(number: int) -> None:
        results.append(await engine.delegate("work", f"count the files, task {number}"))

    async with anyio.create_task_group() as tg:
        for number in range(1, tasks + 1):
            tg.start_soon(one, number)
    sessions = engine.list_sessions()
    return "\n".join(
        [
            f"planner ({planner}): {plan}",
            f"planner again: {thanks}",
            f"worker ({worker}): {counted}",
            f"queue 'work': {len(results)} tasks done",
            f"sessions spawned: {len(sessions)}",
        ]
    )
