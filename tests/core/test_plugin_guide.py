"""The plugin guide (docs/plugins.md) shows the example provider's files as they are."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "tests" / "example_provider"

_TITLED_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.MULTILINE | re.DOTALL)


def test_every_file_the_guide_shows_is_the_example_provider_s_file() -> None:
    shown = dict(_TITLED_BLOCK.findall(GUIDE.read_text()))
    files = {name: text for name, text in shown.items() if name != ".aegis.py"}

    assert set(files) == {
        "pyproject.toml",
        "src/aegis_example/config.py",
        "src/aegis_example/driver.py",
        "src/aegis_example/plugin.py",
        "tests/test_example_agent.py",
    }
    for name, text in files.items():
        assert text == (EXAMPLE / name).read_text(), f"docs/plugins.md shows another {name}"
