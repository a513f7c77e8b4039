"""Modal screens of the app, one module per pane that opens them."""
