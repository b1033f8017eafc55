"""cartsim: a discrete-event simulator of CAR-T cell therapy dosing protocols.

Research and teaching tool only; never clinical advice.
"""

__version__ = "0.1.0"
