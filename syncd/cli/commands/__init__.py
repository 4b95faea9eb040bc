"""Importing this package registers every command on the `syncd` group."""

from syncd.cli.commands import curate, setup, syncing, views  # noqa: F401
