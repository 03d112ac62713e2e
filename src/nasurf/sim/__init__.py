"""Simulation of surface-engineered (core-shell) anode particles in a Na half cell."""
