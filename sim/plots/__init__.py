"""Figures drawn from the event log only (matplotlib, Agg; PNG or SVG).

``timeline`` draws one patient's course, ``swimmer``, ``survival`` and ``distributions``
a cohort's. Every function returns a :class:`matplotlib.figure.Figure` made without
pyplot (no global figure state); :mod:`sim.plots.files` writes it. matplotlib is
imported only inside these modules, never by the command line at start-up.
"""
