"""The widgets of the aegis TUI: tab bar, transcript, prompt, status bar, queue strip."""
