"""One pane per user job."""
