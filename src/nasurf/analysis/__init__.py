"""Analyses of measured (or simulated) data: galvanostatic, CV kinetics, GITT, EIS."""
