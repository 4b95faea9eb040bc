"""Importing this package registers every command on the `syncd` group."""

from syncd.cli.commands import curate, daemon, setup, syncing, views  # noqa: F401
