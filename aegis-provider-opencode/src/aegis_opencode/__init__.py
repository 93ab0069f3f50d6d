"""aegis provider for OpenCode (``opencode acp``)."""

__version__ = "0.1.0"
