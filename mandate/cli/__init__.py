"""The `mandate` command line."""
