"""Access tokens and the loopback rule.

A token is 32 random bytes shown once (``nasurf serve`` on a non-loopback address, or
``nasurf token create NAME``); the workspace keeps only its SHA-256, so a copied database
does not hand out access. Tokens are named and can be revoked one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time

from nasurf.errors import ValidationError
from nasurf.web.workspace import Workspace

TOKEN_PREFIX = "nst_"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost' (what a browser on this machine uses)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(ws: Workspace, name: str) -> str:
    """Store a new named token (hashed) and return it; it is never shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ValidationError("a token needs a printable name of at most 100 characters",
                              field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ws.transaction() as c:
        if c.execute("SELECT 1 FROM tokens WHERE name=? AND revoked_at IS NULL",
                     (name,)).fetchone():
            raise ValidationError(f"a token named {name!r} exists; revoke it first",
                                  field="name")
        c.execute("DELETE FROM tokens WHERE name=?", (name,))
        c.execute("INSERT INTO tokens(name, hash, created_at) VALUES(?,?,?)",
                  (name, hash_token(token), time.time()))
    return token


def revoke_token(ws: Workspace, name: str) -> bool:
    with ws.transaction() as c:
        return c.execute("UPDATE tokens SET revoked_at=? WHERE name=? AND revoked_at IS NULL",
                         (time.time(), name)).rowcount > 0


def list_tokens(ws: Workspace) -> list[dict]:
    return ws.query("SELECT name, created_at, revoked_at FROM tokens ORDER BY id")


def active_token_count(ws: Workspace) -> int:
    return int(ws.query("SELECT COUNT(*) AS n FROM tokens WHERE revoked_at IS NULL")[0]["n"])


def check_token(ws: Workspace, token: str | None) -> str | None:
    """The name of the active token matching ``token``, else None (constant-time compare)."""
    if not token:
        return None
    digest = hash_token(token)
    for row in ws.query("SELECT name, hash FROM tokens WHERE revoked_at IS NULL"):
        if hmac.compare_digest(row["hash"], digest):
            return row["name"]
    return None
