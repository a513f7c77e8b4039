"""The Textual app. Imports Textual; the engine never imports this package."""
