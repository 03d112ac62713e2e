"""A damage corpus generated from the real files, and the classification of each read.

Each damage class turns the bytes of an intact real file into a damaged variant with a fixed
seed; :func:`classify` reads the variant with :func:`nasurf.io.read` and compares it with the
read of the intact file:

``same``          the same table (every column equal, NaN equal to NaN) and the same warnings
``warned``        a different table, but a warning the intact read did not have says why
``error``         a :class:`~nasurf.errors.NasurfError` whose one-line message names the file
``silent``        a different table without a new warning -- the failure this corpus hunts
``traceback``     any other exception, or an error message that does not name the file
``hang``          the read did not return within the time limit

Used by ``tests/test_damage.py`` (a seeded sample) and ``benchmarks/bench_damage.py`` (all
variants, table written to ``docs/robustness.md``).
"""

from __future__ import annotations

import random
import re
import signal
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nasurf.errors import NasurfError
from nasurf.io import read
from nasurf.io._text import decode, split_fields
from nasurf.io.table import EchemData

OUTCOMES = ("same", "warned", "error", "silent", "traceback", "hang")
FAILURES = ("silent", "traceback", "hang")

BINARY_SIGNATURES = (b"BIO-LOGIC", b"NEWARE", b"PK\x03\x04", b"\x1f\x8b", b"\x00\x01\x00\x00")


def is_text(raw: bytes) -> bool:
    return b"\x00" not in raw[:4096] and not raw.startswith(BINARY_SIGNATURES)


def corpus_files(root: Path, max_bytes: int | None = None) -> list[Path]:
    """The real instrument files (documentation and sidecars excluded), sorted."""
    out = []
    for f in sorted(root.rglob("*")):
        if not f.is_file() or f.suffix.lower() in (".md", ".json", ".py"):
            continue
        if max_bytes is not None and f.stat().st_size > max_bytes:
            continue
        out.append(f)
    return out


# ---------------------------------------------------------------------------------------
# damage classes: (raw bytes, rng) -> damaged bytes, or None when the class does not apply


def _lines(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True)


def _data_start(raw: bytes) -> int | None:
    """Index of the first of three data lines in a row (the line before is the header)."""
    text = decode(raw)
    lines = text.splitlines()[:2000]

    def data(ln: str) -> bool:
        f = [x for x in split_fields(ln) if x.strip()]
        return bool(f) and sum(bool(re.fullmatch(r"[\s\"]*[-+]?[\d.,]+([eE][-+]?\d+)?[\s\"]*",
                                                  x)) for x in f) / len(f) >= 0.75
    for i in range(1, len(lines) - 2):
        if data(lines[i]) and data(lines[i + 1]) and data(lines[i + 2]):
            return i
    return None


def _mid_line(raw: bytes, cut: int) -> int:
    """Move a text cut off a line end: a text file cut exactly after a line end is a valid
    shorter file, which no reader can tell from an intact one (a binary cut stays)."""
    if not is_text(raw):
        return cut
    while 1 < cut < len(raw) and raw[cut - 1:cut] in (b"\n", b"\r"):
        cut -= 1
    # and into the line: a line that lost only its line end is complete
    return cut - 1 if 1 < cut < len(raw) and raw[cut - 2:cut - 1] not in (b"\n", b"\r") \
        else cut


def truncate(fraction: float) -> Callable[[bytes, random.Random], bytes | None]:
    def damage(raw: bytes, rng: random.Random) -> bytes | None:
        cut = _mid_line(raw, int(len(raw) * fraction))
        if cut <= 0 or cut >= len(raw):
            return None
        return raw[:cut]
    return damage


def truncate_random(raw: bytes, rng: random.Random) -> bytes | None:
    return raw[:_mid_line(raw, rng.randrange(1, len(raw)))] if len(raw) > 2 else None


def byte_flip(raw: bytes, rng: random.Random) -> bytes | None:
    """Text: one digit of the data becomes 0xFF, 'x' or '#' (never another digit: that change
    is indistinguishable from data). Binary: one bit flipped anywhere in a zip or gzip
    container (CRC-checked), else in the first 128 bytes (signature, version, lengths)."""
    b = bytearray(raw)
    if is_text(raw):
        start = _data_start(raw) or 0
        lines = _lines(raw)
        offset = sum(len(x) for x in lines[:start])
        # a digit of the data: a flipped letter of a free-text label is not detectable
        digits = [m.start() for m in re.finditer(rb"\d", raw[offset:offset + 200_000])]
        if not digits:
            return None
        i = offset + rng.choice(digits)
        b[i] = rng.choice((0xFF, ord("x"), ord("#")))
    else:
        # containers with checksums (zip members: CRC-32; gzip: CRC-32) anywhere; formats
        # without one only in their signature and header (a flip in a payload number is
        # undetectable there, see docs/robustness.md)
        checked = raw.startswith((b"PK\x03\x04", b"\x1f\x8b"))
        i = rng.randrange(0, len(b) if checked else min(len(b), 128))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


_NUM = re.compile(rb"(?<![\w.])([-+]?\d+)\.(\d+(?:[eE][-+]?\d+)?)(?![\w.])")


def decimal_comma(raw: bytes, rng: random.Random) -> bytes | None:
    """The export a decimal-comma locale writes: 1.5 -> 1,5 everywhere; the ','
    separators of the table become ';'."""
    if not is_text(raw):
        return None
    start = _data_start(raw)
    if start is None:
        return None
    lines = _lines(raw)
    out = []
    for i, ln in enumerate(lines):
        if i >= start - 1 and b"," in ln:   # the column header and the data rows
            ln = ln.replace(b",", b";")
        out.append(_NUM.sub(rb"\1,\2", ln))
    new = b"".join(out)
    return new if new != raw else None


def encoding(target: str) -> Callable[[bytes, random.Random], bytes | None]:
    def damage(raw: bytes, rng: random.Random) -> bytes | None:
        if not is_text(raw):
            return None
        text = decode(raw)
        try:
            new = text.encode(target)
        except UnicodeEncodeError:
            return None
        return new if new != raw else None
    return damage


def crlf(raw: bytes, rng: random.Random) -> bytes | None:
    if not is_text(raw) or b"\r\n" in raw:
        return None
    return raw.replace(b"\n", b"\r\n")


def repeated_header(raw: bytes, rng: random.Random) -> bytes | None:
    if not is_text(raw):
        return None
    start = _data_start(raw)
    if start is None:
        return None
    lines = _lines(raw)
    header = lines[start - 1]
    if not header.strip() or _data_start(lines[start] + header * 3) == 1:
        return None   # headerless table: a repeated data line is not a repeated header
    n_data = len(lines) - start
    if n_data < 4:
        return None
    at = start + rng.randrange(2, n_data - 1)
    line = header if header.endswith(b"\n") else header + b"\n"
    return b"".join([*lines[:at], line, *lines[at:]])


def nonfinite_row(token: bytes) -> Callable[[bytes, random.Random], bytes | None]:
    """One numeric value of one data row replaced by ``nan``/``inf``/``-inf``."""
    def damage(raw: bytes, rng: random.Random) -> bytes | None:
        if not is_text(raw):
            return None
        start = _data_start(raw)
        if start is None:
            return None
        lines = _lines(raw)
        n_data = len(lines) - start
        if n_data < 3:
            return None
        i = start + rng.randrange(0, n_data - 1)
        nums = list(re.finditer(rb"(?<![\w.])[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?(?![\w.])",
                                lines[i]))
        if not nums:
            return None
        m = rng.choice(nums)
        lines[i] = lines[i][:m.start()] + token + lines[i][m.end():]
        return b"".join(lines)
    return damage


def nul_padding(raw: bytes, rng: random.Random) -> bytes | None:
    return raw + b"\x00" * 65536


def space_padding(raw: bytes, rng: random.Random) -> bytes | None:
    """A line of two million blanks appended (an absurdly long line)."""
    return raw + b" " * 2_000_000 + b"\n" if is_text(raw) else None


DAMAGES: dict[str, Callable[[bytes, random.Random], bytes | None]] = {
    "truncate-25%": truncate(0.25),
    "truncate-50%": truncate(0.5),
    "truncate-90%": truncate(0.9),
    "truncate-99%": truncate(0.99),
    "truncate-random": truncate_random,
    "byte-flip": byte_flip,
    "decimal-comma": decimal_comma,
    "utf-16": encoding("utf-16"),
    "utf-8-bom": encoding("utf-8-sig"),
    "windows-1252": encoding("windows-1252"),
    "crlf": crlf,
    "repeated-header": repeated_header,
    "nan-value": nonfinite_row(b"nan"),
    "inf-value": nonfinite_row(b"inf"),
    "minus-inf-value": nonfinite_row(b"-inf"),
    "nul-padding": nul_padding,
    "long-line": space_padding,
}


# ---------------------------------------------------------------------------------------
# classification


@dataclass(frozen=True)
class Outcome:
    file: str
    damage: str
    seed: int
    outcome: str
    detail: str
    intact_reads: bool = True   # False: the intact file is itself a clear error


class _TimeoutError(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _TimeoutError


def read_guarded(path: Path, timeout_s: int = 60) -> EchemData | BaseException:
    """The read's result or the exception it raised (a :class:`_TimeoutError` past the limit)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout_s)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read(path)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def same_table(a: pd.DataFrame, b: pd.DataFrame, *, comma_is_point: bool = False) -> bool:
    """Equal columns, dtypes aside; ``comma_is_point``: text cells compared with ',' read
    as '.' (a decimal-comma export keeps its text columns, durations say ``00:00:01,5``)."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x.dtype) and pd.api.types.is_numeric_dtype(y.dtype):
            xv = x.to_numpy(dtype=np.float64, na_value=np.nan)
            yv = y.to_numpy(dtype=np.float64, na_value=np.nan)
            if not np.array_equal(xv, yv, equal_nan=True):
                return False
        else:
            xs, ys = x.astype("string").fillna("<NA>"), y.astype("string").fillna("<NA>")
            if comma_is_point:
                xs, ys = xs.str.replace(",", "."), ys.str.replace(",", ".")
            if not xs.equals(ys):
                return False
    return True


def _same_metadata(a: EchemData, b: EchemData) -> bool:
    ma, mb = a.metadata, b.metadata
    return (ma.technique, ma.active_mass_g, ma.electrode_area_cm2, ma.scan_rate_V_s,
            ma.current_sign) == (mb.technique, mb.active_mass_g, mb.electrode_area_cm2,
                                 mb.scan_rate_V_s, mb.current_sign)


def classify(intact: EchemData | BaseException, result: EchemData | BaseException,
             path: Path, damage: str = "") -> tuple[str, str]:
    """``(outcome, detail)`` of one damaged read against the intact read."""
    if isinstance(result, _TimeoutError):
        return "hang", "no result within the time limit"
    if isinstance(result, BaseException):
        msg = str(result)
        if isinstance(result, NasurfError) and str(path) in msg and "\n" not in msg.strip():
            return "error", msg.replace(str(path), "<file>")[:160]
        return "traceback", f"{result.__class__.__name__}: {msg[:160]}"
    if isinstance(intact, EchemData):
        if same_table(intact.data, result.data, comma_is_point=damage == "decimal-comma") \
                and _same_metadata(intact, result):
            return "same", ""
        new = [w for w in result.metadata.warnings if w not in intact.metadata.warnings]
        if new:
            return "warned", new[0][:160]
        return "silent", (f"{len(intact.data)} -> {len(result.data)} rows, no new warning")
    new = list(result.metadata.warnings)
    if new:
        return "warned", f"intact file fails, damaged one reads with: {new[0][:120]}"
    return "silent", "intact file fails, damaged one reads without a warning"


def variants(files: list[Path], damages: dict[str, Callable[[bytes, random.Random],
                                                              bytes | None]],
             seeds: range) -> Iterator[tuple[Path, str, int, bytes]]:
    for f in files:
        raw = f.read_bytes()
        for name, damage in damages.items():
            for seed in seeds:
                new = damage(raw, random.Random(f"{f.name}/{name}/{seed}"))
                if new is not None and new != raw:
                    yield f, name, seed, new


def run(files: list[Path], root: Path, damages: dict[str, Callable[..., bytes | None]]
        | None = None, seeds: range = range(1), sample: int | None = None,
        sample_seed: int = 0, timeout_s: int = 60) -> list[Outcome]:
    """Read every damaged variant (or a seeded sample of them) and classify each."""
    damages = damages or DAMAGES
    todo = list(variants(files, damages, seeds))
    if sample is not None and sample < len(todo):
        todo = random.Random(sample_seed).sample(todo, sample)
    intact: dict[Path, EchemData | BaseException] = {}
    out = []
    with tempfile.TemporaryDirectory(prefix="nasurf-damage-") as tmp:
        for f, name, seed, data in todo:
            if f not in intact:
                intact[f] = read_guarded(f, timeout_s)
            target = Path(tmp) / f"{name}-{seed}" / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            result = read_guarded(target, timeout_s)
            outcome, detail = classify(intact[f], result, target, name)
            out.append(Outcome(str(f.relative_to(root)), name, seed, outcome, detail,
                               isinstance(intact[f], EchemData)))
            target.unlink()
    return out
