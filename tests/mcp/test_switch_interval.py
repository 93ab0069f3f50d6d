"""The interpreter's switch interval while MCP planes load their SDK: shortened once, put
back when the last of several overlapping loads ends (whatever order they end in)."""

from __future__ import annotations

import sys

from aegis.mcp.plane import LOADING_SWITCH_S, _quick_lock_handover


def test_overlapping_loads_put_the_usual_interval_back_at_the_end() -> None:
    usual = sys.getswitchinterval()
    first, second = _quick_lock_handover(), _quick_lock_handover()
    first.__enter__()
    assert sys.getswitchinterval() == min(usual, LOADING_SWITCH_S)
    second.__enter__()
    first.__exit__(None, None, None)  # the first to start ends first
    assert sys.getswitchinterval() == min(usual, LOADING_SWITCH_S)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == usual
