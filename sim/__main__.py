"""``python -m sim``: the same as the ``cartsim`` command."""

from sim.cli import entry

entry()
