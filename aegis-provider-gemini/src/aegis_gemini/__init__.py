"""aegis provider for Google's Gemini CLI (``gemini --acp``)."""

__version__ = "0.1.0"
