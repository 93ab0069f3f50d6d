"""The Textual terminal frontend of aegis."""

__version__ = "0.1.0"
