"""Readers for cycler and potentiostat files into the canonical table (:mod:`nasurf.io.table`)."""

from nasurf.io.table import EchemData, Metadata

__all__ = ["EchemData", "Metadata"]
