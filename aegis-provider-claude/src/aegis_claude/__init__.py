"""aegis provider for Anthropic's Claude Code CLI (``claude``)."""

__version__ = "0.1.0"
