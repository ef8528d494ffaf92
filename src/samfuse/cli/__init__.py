"""The ``samfuse`` command line: one small module per command, collected by :mod:`samfuse.cli.main`."""
