"""jarvis-tui: a keyboard-first terminal app for the OpenJarvis learning loop."""

__version__ = "0.1.0"
