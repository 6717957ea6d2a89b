"""One module per CLI command (see nircc.cli)."""
