"""The virtual-patient model: covariates, cell kinetics, toxicity, response, survival.

Pure numpy/Python: nothing here imports simpy. The engine adapter
(:mod:`sim.engine.virtual_patient`) turns the model's timelines into SimPy processes.
"""
