"""Cited literature knowledge base of surface-engineered NIB anodes."""
