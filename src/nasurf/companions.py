"""Which files in a measurement folder are not measurements.

One list for every place that walks a folder of instrument files (``nasurf analyze
batch``, the sample archive): companion and output files that live next to the data.
Standard library only, so listing a folder never loads the analysis stack.
"""

from __future__ import annotations

from pathlib import Path

#: suffixes of companion / non-data files (EC-Lab settings ``.mpl``, notes, our own
#: JSON/figure outputs, editor backups)
IGNORED_SUFFIXES = frozenset({".mpl", ".md", ".txt.bak", ".json", ".png", ".svg", ".pdf"})


def is_companion(path: Path) -> bool:
    """True for a file that sits next to measurements but is not one."""
    # by the name's ending, so the two-part ".txt.bak" matches too (``suffix`` is ".bak")
    return Path(path).name.lower().endswith(tuple(IGNORED_SUFFIXES))
