"""Core types shared by the engine (no Textual, no torch)."""
