"""Figures fit for a paper: one style (:mod:`nasurf.figures.style`) and the study figures
(:mod:`nasurf.figures.study`). Importing this package does not import pyplot."""

from nasurf.figures.style import PALETTE, new_figure, paper_style, save, width_in

__all__ = ["PALETTE", "new_figure", "paper_style", "save", "width_in"]
