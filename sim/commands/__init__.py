"""The ``cartsim`` sub-commands beyond the core ones in :mod:`sim.cli`.

Each module has ``register(app)``; heavy libraries (matplotlib, pyarrow, dask) are
imported inside the command functions so that ``cartsim --help`` stays fast.
"""
