"""The web workbench (``nasurf serve``): a front end over the plain Python API.

Nothing in the library imports this package; it imports the library.
"""
