"""``notifications = [...]`` in ``.aegis.py``: read, checked, and a misspelling caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.config.loader import load_project
from aegis.errors import ConfigError
from aegis.notify import Desktop, Webhook

HEAD = """
from aegis.builtins.scripted import Scripted
from aegis.config import Agent
from aegis.notify import Desktop, Webhook

agents = {"main": Agent(provider=Scripted())}
default_agent = "main"
"""


def project(tmp_path: Path, tail: str) -> Path:
    (tmp_path / ".aegis.py").write_text(HEAD + tail)
    return tmp_path


def test_the_declared_channels_are_read(tmp_path: Path) -> None:
    tail = 'notifications = [Desktop(), Webhook(url_env="HOOK_URL", kinds=["task_failed"])]\n'
    loaded = load_project([project(tmp_path, tail)])
    assert loaded.notifications == [Desktop(), Webhook(url_env="HOOK_URL", kinds=["task_failed"])]


def test_none_declared_is_none(tmp_path: Path) -> None:
    assert load_project([project(tmp_path, "")]).notifications == []


@pytest.mark.parametrize(
    ("tail", "message", "hint"),
    [
        ("notifications = Desktop()\n", "must be a list of channels, not Desktop", "Desktop()]"),
        ("notifications = ['desktop']\n", "holds 'desktop', which is not", "aegis.notify"),
        (
            "notification = [Desktop()]\n",
            "`notification` is not a name aegis reads",
            "notifications",
        ),
        (
            "notifications = [Webhook(url='https://a:b@example.com')]\n",
            "holds a password",
            "headers_env",
        ),
    ],
)
def test_a_wrong_declaration_says_what_and_where(
    tmp_path: Path, tail: str, message: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project([project(tmp_path, tail)])
    assert message in str(caught.value)
    assert hint in (caught.value.hint or "")
    assert caught.value.path == str(tmp_path / ".aegis.py")
