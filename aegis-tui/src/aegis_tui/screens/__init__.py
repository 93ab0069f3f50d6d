"""The screens of the aegis TUI beside the main one: help, pickers, queues, workflows."""
