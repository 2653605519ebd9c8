"""todostream: a todo service in which every change is an event."""

__version__ = "0.1.0"
