"""Text plumbing shared by the text-format readers: decoding, number parsing, table finding.

Real exports are not UTF-8 (EC-Lab writes windows-1252, Neware BTSDA writes a bare 0xB5
micro sign, BaSyTec a latin-1 degree sign) and some use decimal commas (de_DE EC-Lab).
These helpers decide both from the bytes, never from the file name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError

#: Read at most this many bytes when sniffing a file's format.
SNIFF_BYTES = 16384
#: No instrument writes a text line this long; a longer one is damage or a binary blob, and
#: reading it whole would cost memory out of proportion to the data it could hold.
MAX_LINE_BYTES = 1 << 20
#: A file ending in at least this many NUL bytes was padded or preallocated and not filled.
PADDING_BYTES = 4096
_SCAN_CHUNK = MAX_LINE_BYTES // 2

# Warnings raised by the text plumbing while one file is read (a dropped cut last line, a
# removed repeated header ...). The plumbing has no metadata to write them into, so
# :func:`nasurf.io.read` collects them here and adds them to the result's warnings.
_WARNINGS: ContextVar[list[str] | None] = ContextVar("nasurf_read_warnings", default=None)


@contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """Collect the warnings :func:`warn` records while a file is read."""
    bucket: list[str] = []
    token = _WARNINGS.set(bucket)
    try:
        yield bucket
    finally:
        _WARNINGS.reset(token)


def warn(message: str) -> None:
    """Record a warning for the file being read (kept only inside :func:`collect_warnings`)."""
    bucket = _WARNINGS.get()
    if bucket is not None and message not in bucket:
        bucket.append(message)


def check_padding(path: Path) -> None:
    """Refuse a file whose tail is a run of NUL bytes (a padded or half-written copy).

    Checked before any reader loads the file, so a 2 GB padded file costs one small read.
    """
    size = path.stat().st_size
    n = min(size, PADDING_BYTES)
    if n < PADDING_BYTES:
        return
    with open(path, "rb") as fh:
        fh.seek(size - n)
        tail = fh.read(n)
    if tail.count(0) == n:
        raise FileFormatError(
            f"the file ends in {n}+ NUL bytes (padded, preallocated or an incompletely "
            f"written copy of {size} bytes); not read", file=str(path))


def check_text_file(path: Path) -> None:
    """Stream a text export once: refuse NUL bytes and lines over :data:`MAX_LINE_BYTES`.

    Text exports never hold NUL (UTF-16 files, which do, are exempt); a NUL is damage, and a
    run of them is padding. Memory stays at one chunk whatever the file size.
    """
    src = str(path)
    with open(path, "rb") as fh:
        first = fh.read(4096)
        if first.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in first:
            return   # UTF-16, or a binary format detection recognised by its signature
        fh.seek(0)
        offset = 0
        line_start = 0
        line_no = 1
        while True:
            chunk = fh.read(_SCAN_CHUNK)
            if not chunk:
                return
            nul = chunk.find(b"\x00")
            if nul >= 0:
                where = line_no + chunk.count(b"\n", 0, nul)
                raise FileFormatError(
                    f"NUL byte at byte offset {offset + nul} (line {where}): a text export "
                    "never holds one; the file is damaged or padded", file=src)
            # blocks are shorter than the limit, so only the line running into a block
            # (from the previous one) can be too long: lines inside a block never are
            first_nl = chunk.find(b"\n")
            end = offset + (len(chunk) if first_nl < 0 else first_nl)
            if end - line_start > MAX_LINE_BYTES:
                break
            if first_nl >= 0:
                line_no += chunk.count(b"\n")
                line_start = offset + chunk.rfind(b"\n") + 1
            offset += len(chunk)
    raise FileFormatError(f"line {line_no} is longer than {MAX_LINE_BYTES} bytes; no "
                          "instrument export has such lines (damaged file?)", file=src)


def decode(raw: bytes, encoding: str | None = None, *, source: str | None = None) -> str:
    """Bytes to text: the given encoding, else UTF-8 (with or without BOM), else windows-1252.

    windows-1252 leaves five byte values undefined; latin-1 maps every byte, so it is the
    last resort and decoding never fails on real exports.
    """
    return repair_rows(_decode(raw, encoding, source))


def _decode(raw: bytes, encoding: str | None, source: str | None) -> str:
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


# ---------------------------------------------------------------------------------------
# Row completeness. Every text reader gets its text through decode(), so the two ways a
# damaged file reinterprets rows silently are undone here once, for every format: a file
# cut mid-line (its last line lacks fields or ends in a cut number) and a column-header
# line repeated inside the data (a concatenated or resumed export), after which readers
# that look for "the" header restart the table.

_HEAD_LINES = 2000


def split_fields(line: str) -> list[str]:
    """The fields of a data line, by the separator it uses (tab, then ';', ',', blanks)."""
    line = line.rstrip("\r\n")
    for sep in ("\t", ";", ","):
        if sep in line:
            return line.rstrip(sep).split(sep)
    return line.split()


def _is_data_line(line: str) -> bool:
    fields = [f for f in _split(line.rstrip("\r\n"), _separator_of(line)) if f.strip()]
    return bool(fields) and numeric_fraction(fields) >= 0.75


def _token_shape(token: str) -> tuple[object, ...]:
    """What a cut cannot keep: the decimal places, the exponent, the digit count."""
    t = token.strip().strip('"')
    m = re.fullmatch(r"[-+]?(\d*)(?:[.,](\d*))?(?:[eE]([-+]?\d*))?", t)
    if not m or not t:
        return ("text", len(t))
    whole, frac, exp = m.groups()
    return ("number", frac is None, len(frac or ""), exp is None, len(exp or ""),
            len(whole) if frac is None and exp is None else 0)


def repair_rows(text: str) -> str:
    """Drop a cut last line and repeated header lines, recording a warning for each."""
    return _drop_repeated_header(_drop_cut_last_line(text))


def _separator_of(line: str) -> str | None:
    """The field separator of a data line: the most frequent of tab, ';' and ','."""
    counts = {sep: line.count(sep) for sep in ("\t", ";", ",")}
    best = max(counts, key=lambda k: counts[k])   # ties keep the order tab, ';', ','
    return best if counts[best] else None


def _split(line: str, sep: str | None) -> list[str]:
    return line.split(sep) if sep else line.split()


_CUT_NUMBER = re.compile(r"(?:[eE][-+]?|[-+.]|\d[.,])$")


def _drop_cut_last_line(text: str) -> str:
    if not text or text.endswith(("\n", "\r")):
        return text
    cut = text.rfind("\n") + 1
    last = text[cut:]
    if not last.strip():
        return text
    before = text[:cut].rstrip("\r\n")
    prev = before[before.rfind("\n") + 1:]
    if not prev.strip():
        return text   # a one-line file: nothing to compare the line with
    sep = _separator_of(prev)
    f_last, f_prev = _split(last, sep), _split(prev, sep)
    line_no = text.count("\n") + 1
    tail = f_last[-1].strip().strip('"')
    numbers = [f.strip() for f in f_last[:-1] if is_number(f)]
    why = None
    if not _is_data_line(last) and not _is_data_line(prev):
        # cut inside the preamble or the column header: there is no data after it
        warn(f"the file ends without a line end inside its header (line {line_no}, ending "
             f"'{last.strip()[-30:]}'): the file looks truncated before its data")
        return text
    # a header may carry one more (trailing) separator than the data rows
    if len(f_last) < len(f_prev) - (0 if _is_data_line(prev) else 1):
        why = f"has {len(f_last)} of the {len(f_prev)} fields of the line before"
    elif _CUT_NUMBER.search(tail) and is_number(tail.rstrip("eE+-.,") or "x"):
        why = f"ends in '{tail}' (a number cut mid-token)"
    elif (is_number(tail) and "." in tail and not re.search(r"[eE]", tail)
          and numbers and all(re.search(r"[eE]", n) for n in numbers if "." in n)
          and any("." in n for n in numbers)):
        why = f"ends in '{tail}' where every other number of the line has an exponent"
    elif len(f_last) == len(f_prev) and _is_data_line(prev):
        a, b = f_last[-1], f_prev[-1]
        sa, sb = _token_shape(a), _token_shape(b)
        if b != b.rstrip() and a == a.rstrip():
            cut_token = True   # the writer pads each line's last value; the cut lost it
        elif sa[0] != sb[0]:
            cut_token = True
        elif sa[0] == "text":
            cut_token = sa[1] < sb[1]
        else:   # same decimals and exponent width; an integer may only grow
            cut_token = sa[:5] != sb[:5] or sa[5] < sb[5]
        if cut_token:
            why = (f"ends in '{a.strip()}' where the line before has '{b.strip()}' "
                   "(a value cut mid-number)")
    if why is None:
        return text
    warn(f"the file ends without a line end and its last line (line {line_no}) {why}: "
         "the file looks truncated; that line was dropped")
    return text[:cut]


def _drop_repeated_header(text: str) -> str:
    head = text[: 1 << 20].splitlines()[:_HEAD_LINES]
    header = None
    for i in range(1, len(head) - 2):
        if all(_is_data_line(head[j]) for j in (i, i + 1, i + 2)):
            k = i - 1
            while k >= 0 and not head[k].strip():
                k -= 1
            if k >= 0 and not _is_data_line(head[k]):
                header = head[k]
            break
    if not header or not header.strip():
        return text
    first = text.find(header)
    pos = text.find(header, first + len(header))
    spans: list[tuple[int, int]] = []
    while pos >= 0:
        end = pos + len(header)
        whole_line = (text[pos - 1] == "\n") and (end == len(text) or text[end] in "\r\n")
        if whole_line:
            before = text[:pos - 1].rstrip("\r\n")
            prev = before[before.rfind("\n") + 1:]
            if _is_data_line(prev):
                stop = end + (2 if text.startswith("\r\n", end) else 1)
                spans.append((pos, min(stop, len(text))))
        pos = text.find(header, end)
    if not spans:
        return text
    line_no = text.count("\n", 0, spans[0][0]) + 1
    warn(f"the column-header line was repeated {len(spans)} time(s) inside the data (first "
         f"at line {line_no}); the repeats were removed and the rows on both sides kept")
    parts, at = [], 0
    for a, b in spans:
        parts.append(text[at:a])
        at = b
    parts.append(text[at:])
    return "".join(parts)


def read_text(path: Path, encoding: str | None = None) -> str:
    return decode(path.read_bytes(), encoding, source=str(path))


def head_text(path: Path, nbytes: int = SNIFF_BYTES) -> str:
    """The first bytes of a file as text (for format detection); never raises on bad bytes."""
    with open(path, "rb") as fh:
        raw = fh.read(nbytes)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):   # UTF-16 (the sniff may cut a pair)
        return raw[:len(raw) // 2 * 2].decode("utf-16", errors="replace").lstrip("\ufeff")
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


#: A table text at least this long is parsed in row chunks (see :func:`read_delimited`).
CHUNKED_CHARS = 8 << 20
_CHUNK_ROWS = 1 << 16


class _Utf8Stream(io.RawIOBase):
    """The UTF-8 bytes of ``text[start:]``, encoded block by block as the parser reads, so
    the text is never held a second time as one ``bytes`` object."""

    def __init__(self, text: str, start: int) -> None:
        self._text, self._pos, self._rest = text, start, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = len(buffer)
        if not self._rest:
            chunk = self._text[self._pos:self._pos + n]
            self._pos += len(chunk)
            self._rest = chunk.encode("utf-8")
        k = min(n, len(self._rest))
        buffer[:k] = self._rest[:k]
        self._rest = self._rest[k:]
        return k


def _csv_options(sep: str, skiprows: int, header: bool, names: list[str] | None,
                 decimal: str) -> dict:
    return dict(
        encoding="utf-8", sep=sep, skiprows=skiprows, header=0 if header else None,
        names=names, decimal=decimal, index_col=False, skipinitialspace=True,
        skip_blank_lines=True, on_bad_lines="error", engine="c", quotechar='"',
        # only an empty cell is missing; a cell saying "nan" or "N/A" stays text so
        # that to_float counts it instead of it vanishing into NaN here
        keep_default_na=False, na_values=[""],
    )


def _parse_chunked(text: str, start: int, options: dict) -> pd.DataFrame | None:
    """Parse in chunks of rows into columns allocated once (the row count is at most the
    number of line ends): the whole-file parser holds every token of the file at once
    (several times the table), and joining chunk pieces would hold the table twice. None
    when the chunks disagree on a column's kind (a text cell among numbers): only the
    whole-file parse then gives the same cells, so the caller falls back to it."""
    n_max = text.count("\n", start) + 1
    stream = io.BufferedReader(_Utf8Stream(text, start), buffer_size=1 << 20)
    cols: list[np.ndarray | list[pd.Series]] = []
    kinds: list[str] = []
    names: list = []
    pos = 0
    with pd.read_csv(stream, chunksize=_CHUNK_ROWS, **options) as reader:
        for chunk in reader:
            m = len(chunk)
            if not names:
                names = list(chunk.columns)
                for i in range(len(names)):
                    dt = chunk.iloc[:, i].dtype
                    kind = dt.kind if isinstance(dt, np.dtype) else "O"
                    kinds.append("num" if kind in "iuf" else kind)
                    cols.append(np.empty(n_max, dtype=dt) if kind in "iufb" else [])
            if pos + m > n_max:
                return None
            for i, col in enumerate(cols):
                s = chunk.iloc[:, i]
                kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else "O"
                if ("num" if kind in "iuf" else kind) != kinds[i]:
                    return None
                if isinstance(col, list):
                    col.append(s)
                    continue
                v = s.to_numpy()
                wider = np.result_type(col.dtype, v.dtype)
                if wider != col.dtype:   # int so far, now floats: the whole parse says float
                    col = cols[i] = col.astype(wider)
                col[pos:pos + m] = v
            pos += m
            del chunk
    if not names:
        return None
    df = pd.DataFrame(index=pd.RangeIndex(pos))
    for i, name in enumerate(names):
        col = cols[i]
        cols[i] = []
        if isinstance(col, list):
            col = pd.concat(col, ignore_index=True)
        elif n_max - pos > 16 + n_max // 100:
            col = col[:pos].copy()
        else:
            col = col[:pos]   # a view: the slack is the header and blank lines
        # one block per column: no consolidation copy of the whole table
        df.insert(i, name, col, allow_duplicates=True)
        del col
    return df


def read_delimited(text: str, *, sep: str, skiprows: int, header: bool = True,
                   decimal: str = ".", source: str | None = None,
                   names: list[str] | None = None, start: int = 0) -> pd.DataFrame:
    """Parse a delimited block with pandas' C engine, all columns as text-or-number.

    Columns come back with their raw header strings; trailing empty columns (a trailing
    delimiter on every line, as EC-Lab and LANDT write) are dropped. ``start``: the table
    begins at this character of ``text`` (no copy of the rest is made). A long table is
    parsed from a stream of its UTF-8 bytes in chunks of rows (memory: the text, the
    table and one chunk, not every token at once); the cells are the same either way.
    """
    import warnings

    options = _csv_options(sep, skiprows, header, names, decimal)
    try:
        with warnings.catch_warnings():
            # pandas only *warns* when a row has more fields than the header and drops
            # them: that is silent data loss, so it is an error here
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = None
            if len(text) - start >= CHUNKED_CHARS:
                df = _parse_chunked(text, start, options)
            if df is None:
                encoded = text.encode("utf-8")
                buffer = io.BytesIO(encoded)
                buffer.seek(len(text[:start].encode("utf-8")) if start else 0)
                del encoded
                # bytes, not a StringIO: StringIO holds 4 bytes per character, UTF-8 one
                df = pd.read_csv(buffer, low_memory=False, **options)
                del buffer
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
    return _numbers_with_damage(df, decimal)


_DATE_PART = (r"(?:\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}[-/ ][A-Za-z]{3,9}[-/ ]\d{2,4}"
              r"|\d+d)")
_TIME_PART = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?[AaPp][Mm])?"
_TIME_OF_DAY = re.compile(rf"^(?:{_DATE_PART}(?:[ T]{_TIME_PART})?|{_TIME_PART})"
                          r"(?:Z|[+-]\d{2}:?\d{2})?$")


def _damaged_number(cell: str) -> bool:
    """A number with one damaged character (``1.0E+0x0``), not a word, date or time."""
    digits = sum(ch.isdigit() for ch in cell)
    return (digits >= 3 and digits >= 0.6 * len(cell) and ":" not in cell
            and not _DATE.fullmatch(cell))


def _few(n_bad: int, n: int) -> bool:
    """A column whose odd cells are this few is damaged, not of another kind."""
    return n_bad <= max(1, n // 10) and n_bad < n / 2


_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                   r"(?: ?[AaPp][Mm])?)?(?:Z|[+-]\d{2}:?\d{2})?$")


def audit_text_columns(df: pd.DataFrame) -> None:
    """Warn about the cells of a date column that are not dates (a damaged timestamp kept
    as text would otherwise pass unnoticed); called once on every reader's output."""
    for col in df.columns:
        s = df[col]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            continue
        text = s.astype("string").str.strip().str.strip('"')
        nonempty = text[text.fillna("") != ""]
        if len(nonempty) < 3:
            continue
        probe = nonempty.iloc[:50]
        if probe.str.fullmatch(_TIME_OF_DAY).fillna(False).mean() < 0.8 and \
                probe.str.fullmatch(_DATE).fillna(False).mean() < 0.8:
            continue   # not a date column: skip the full pass
        bad = ~(nonempty.str.fullmatch(_DATE).fillna(False)
                | nonempty.str.fullmatch(_TIME_OF_DAY).fillna(False))
        if bad.any() and _few(int(bad.sum()), len(nonempty)):
            warn(f"{int(bad.sum())} cell(s) of column '{col}' are not dates like the others "
                 f"(first: '{str(nonempty[bad].iloc[0])[:40]}'); kept as written")


def _numbers_with_damage(df: pd.DataFrame, decimal: str) -> pd.DataFrame:
    """Columns of numbers that hold a few non-numbers (a damaged cell, a 'nan') become
    float, each such cell counted in a warning by :func:`to_float`; text columns stay."""
    for col in df.columns:
        s = df[col]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            if pd.api.types.is_float_dtype(s.dtype) and np.isinf(s.to_numpy()).any():
                to_float(s, decimal=decimal)   # counts the infinities
            continue
        text = s.astype("string").str.strip().str.strip('"')
        nonempty = text[text.fillna("") != ""]
        if not len(nonempty):
            continue
        probe = nonempty
        if decimal == ",":
            probe = probe.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        numeric = pd.to_numeric(probe, errors="coerce").notna()
        numeric |= probe.str.lower().isin(_NAN_TOKENS)
        n_bad = int((~numeric).sum())
        if _few(n_bad, len(numeric)) or (n_bad <= 1 and all(
                _damaged_number(c) for c in probe[~numeric])):
            df[col] = to_float(s, decimal=decimal, damaged=True)
    return df


_NAN_TOKENS = ("nan", "-nan", "+nan")


def to_float(values: pd.Series | np.ndarray, *, decimal: str = ".",
             damaged: bool = False) -> np.ndarray:
    """Numbers as float64; text cells (decimal commas, padding) are parsed.

    Empty cells are NaN. A cell that is not a number (damage: ``1.2x3``), or that says
    ``nan``/``inf``, is NaN/inf *and counted* in a read warning naming the column, so a
    reader never turns a damaged cell into a missing value silently. ``damaged``: the
    caller knows the column holds numbers, so even a majority of bad cells is counted.
    """
    s = pd.Series(values)
    name = s.name
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        out = s.to_numpy(dtype=np.float64, na_value=np.nan)
        n_inf = int(np.isinf(out).sum())
        if n_inf:
            warn(f"{n_inf} cell(s) of column '{name}' hold an infinite value (inf); "
                 "kept as read")
        return out
    text = s.astype("string").str.strip()
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    out = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    filled = text.fillna("").str.strip('"').to_numpy(dtype=object)
    junk = np.isnan(out) & (filled != "")
    # a column of mostly non-numbers is text, dates or durations, which the caller parses
    # next; damage is a minority of bad cells in a column of numbers
    if junk.any() and (damaged or junk.sum() * 2 < (filled != "").sum()):
        said_nan = np.isin(np.char.lower(filled[junk].astype(str)), _NAN_TOKENS)
        n_nan = int(said_nan.sum())
        n_bad = int(junk.sum()) - n_nan
        if n_bad:
            example = filled[junk][~said_nan][0]
            warn(f"{n_bad} cell(s) of column '{name}' are not numbers (first: "
                 f"'{str(example)[:40]}'); read as NaN")
        if n_nan:
            warn(f"{n_nan} cell(s) of column '{name}' say 'nan'; read as NaN")
    n_inf = int(np.isinf(out).sum())
    if n_inf:
        warn(f"{n_inf} cell(s) of column '{name}' hold an infinite value (inf); kept as read")
    return out


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
