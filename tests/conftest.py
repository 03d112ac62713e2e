"""Shared test fixtures: locations of the read-only shared material beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REALDATA = SHARED / "realdata"
SEED = SHARED / "seed" / "000_4553366f5cd3aca1.txt"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Folder of real instrument files (read-only; never copied into the repo)."""
    if not REALDATA.is_dir():
        raise RuntimeError(f"shared real data not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def seed_text() -> str:
    """Text of the founding review."""
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def client(server):
    """An httpx client of the module's web ``server`` (``web_server.server_fixture``)."""
    c = server.client()
    yield c
    c.close()
