"""``python -m sim``: the same as the ``cartsim`` command."""

from sim.cli import app

app(prog_name="cartsim")
