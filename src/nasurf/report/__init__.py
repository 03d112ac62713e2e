"""Reports: the self-contained HTML overview written by ``nasurf demo``."""
