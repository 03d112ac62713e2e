"""Text plumbing shared by the text-format readers: decoding, number parsing, table finding.

Real exports are not UTF-8 (EC-Lab writes windows-1252, Neware BTSDA writes a bare 0xB5
micro sign, BaSyTec a latin-1 degree sign) and some use decimal commas (de_DE EC-Lab).
These helpers decide both from the bytes, never from the file name.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError

#: Read at most this many bytes when sniffing a file's format.
SNIFF_BYTES = 16384


def decode(raw: bytes, encoding: str | None = None, *, source: str | None = None) -> str:
    """Bytes to text: the given encoding, else UTF-8 (with or without BOM), else windows-1252.

    windows-1252 leaves five byte values undefined; latin-1 maps every byte, so it is the
    last resort and decoding never fails on real exports.
    """
    if encoding:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise FileFormatError(f"cannot decode as {encoding}: {exc}", file=source) from None
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("windows-1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_text(path: Path, encoding: str | None = None) -> str:
    return decode(path.read_bytes(), encoding, source=str(path))


def head_text(path: Path, nbytes: int = SNIFF_BYTES) -> str:
    """The first bytes of a file as text (for format detection); never raises on bad bytes."""
    with open(path, "rb") as fh:
        raw = fh.read(nbytes)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_NUMBER = re.compile(r"^[\s\"]*[-+]?(\d+[.,]?\d*|[.,]\d+)([eE][-+]?\d+)?[\s\"]*$")


def is_number(token: str) -> bool:
    return bool(_NUMBER.match(token)) or token.strip().strip('"').lower() in ("nan", "-nan")


_TIMESTAMP = re.compile(r"^[\s\"]*\d[\d\s\-/.:,dT]*(?:[AaPp][Mm])?[\s\"]*$")


def numeric_fraction(fields: list[str]) -> float:
    """Share of non-empty fields that look like numbers, dates or durations."""
    nonempty = [f for f in fields if f.strip()]
    if not nonempty:
        return 0.0
    return sum(is_number(f) or bool(_TIMESTAMP.match(f)) for f in nonempty) / len(nonempty)


def read_delimited(text: str, *, sep: str, skiprows: int, header: bool = True,
                   decimal: str = ".", source: str | None = None,
                   names: list[str] | None = None) -> pd.DataFrame:
    """Parse a delimited block with pandas' C engine, all columns as text-or-number.

    Columns come back with their raw header strings; trailing empty columns (a trailing
    delimiter on every line, as EC-Lab and LANDT write) are dropped.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            # pandas only *warns* when a row has more fields than the header and drops
            # them: that is silent data loss, so it is an error here
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                io.StringIO(text), sep=sep, skiprows=skiprows, header=0 if header else None,
                names=names, decimal=decimal, index_col=False, skipinitialspace=True,
                skip_blank_lines=True, low_memory=False, on_bad_lines="error",
                engine="c", quotechar='"',
            )
    except pd.errors.ParserWarning as exc:
        raise FileFormatError(f"rows with more fields than the header ({exc})",
                              file=source) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise FileFormatError(f"cannot parse the data table ({msg})", file=source) from None
    drop = [c for c in df.columns
            if (str(c).startswith("Unnamed:") or str(c).strip() == "") and df[c].isna().all()]
    if drop:
        df = df.drop(columns=drop)
    df.columns = [str(c).strip().strip('"').strip() for c in df.columns]
    return df


def to_float(values: pd.Series | np.ndarray, *, decimal: str = ".") -> np.ndarray:
    """Numbers as float64; text cells (decimal commas, padding) are parsed, junk becomes NaN."""
    s = pd.Series(values)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    text = s.astype("string").str.strip()
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def find_table(lines: list[str], *, seps: tuple[str, ...] = (",", ";", "\t"),
               min_rows: int = 1) -> tuple[int, str]:
    """Locate a header line followed by numeric rows: ``(header_line_index, separator)``.

    For each separator, the header is the last line before the first run of mostly numeric
    lines that has the same field count as that header. Preambles (LANDT's six lines,
    cellpy's PRIME sections) are skipped this way without a per-format line count.
    """
    best: tuple[int, int, str] | None = None  # (-fields, line, sep)
    limit = min(len(lines), 400)
    for sep in seps:
        for i in range(limit - 1):
            head = lines[i].rstrip("\r\n").rstrip(sep).split(sep)
            named = [h for h in head if h.strip()]
            if len(named) < 2 or numeric_fraction(head) > 0.5:
                continue
            rows = [ln.rstrip("\r\n") for ln in lines[i + 1:i + 1 + max(min_rows, 3)]]
            rows = [r for r in rows if r.strip()]
            if len(rows) < min_rows:
                continue
            ok = True
            for r in rows:
                fields = r.rstrip(sep).split(sep)
                if abs(len(fields) - len(head)) > 1 or numeric_fraction(fields) < 0.75:
                    ok = False
                    break
            if ok:
                cand = (-len(head), i, sep)
                if best is None or cand < best:
                    best = cand
                break
    if best is None:
        raise FileFormatError("no header line followed by numeric rows was found")
    return best[1], best[2]
