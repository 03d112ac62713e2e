"""``nasurf serve`` and ``nasurf token``: start the web workbench, manage access tokens."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from nasurf.clikit import handle_errors, stderr
from nasurf.errors import ValidationError


def _free_port(host: str, preferred: int = 8765) -> int:
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise ValidationError(f"no free port on {host}", field="--port")


WORKSPACE = typer.Option("--workspace", help="Workspace folder (default: your user data "
                         "directory).")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``token`` to the top-level CLI."""

    @app.command("serve")
    @handle_errors
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to bind; anything but "
                                          "loopback needs an access token.")] = "127.0.0.1",
        port: Annotated[int | None, typer.Option("--port", help="Port (default: 8765 if "
                                                 "free, else any free port).")] = None,
        workspace: Annotated[Path | None, WORKSPACE] = None,
        max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Upload size "
                                                     "limit in MB.")] = 500.0,
        token_name: Annotated[str | None, typer.Option(
            "--new-token", help="Create a named access token, print it once, and start.")
        ] = None,
        workers: Annotated[int, typer.Option("--workers", help="Background job threads.")] = 2,
        job_nice: Annotated[int, typer.Option(
            "--job-nice", min=0, max=19, help="CPU niceness of background analyses and "
            "simulations (0: the server's own priority).")] = 10,
        no_seed: Annotated[bool, typer.Option(
            "--no-seed", help="Do not add the demonstration study to a new workspace.")
        ] = False,
    ) -> None:
        """Start the web workbench (FastAPI under uvicorn) and print its URL."""
        import uvicorn

        from nasurf.web import security
        from nasurf.web.app import create_app
        from nasurf.web.workspace import Workspace, default_workspace_dir

        root = workspace or default_workspace_dir()
        loopback = security.is_loopback(host)
        if token_name:
            tok = security.create_token(Workspace(root), token_name)
            typer.echo(f"access token {token_name!r} (shown once, stored hashed): {tok}")
        if not loopback and security.active_token_count(Workspace(root)) == 0:
            raise ValidationError(
                f"refusing to listen on {host} without an access token: start with "
                "--new-token NAME (or run 'nasurf token create NAME')", field="--host")
        chosen = port if port is not None else _free_port(host)
        app = create_app(root, require_token=not loopback,
                         max_upload_bytes=int(max_upload_mb * 1e6), workers=workers,
                         seed=not no_seed, job_nice=job_nice)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"nasurf workbench on http://{shown}:{chosen}/  (workspace {root})",
                   err=False)
        stderr.print("press Ctrl+C to stop")
        uvicorn.run(app, host=host, port=chosen, log_level="warning")

    token = typer.Typer(help="Access tokens for a workbench reachable off this machine.",
                        no_args_is_help=True)

    @token.command("create")
    @handle_errors
    def create(name: str, workspace: Annotated[Path | None, WORKSPACE] = None) -> None:
        """Create a named token and print it once."""
        from nasurf.web import security
        from nasurf.web.workspace import Workspace, default_workspace_dir

        tok = security.create_token(Workspace(workspace or default_workspace_dir()), name)
        typer.echo(tok)

    @token.command("revoke")
    @handle_errors
    def revoke(name: str, workspace: Annotated[Path | None, WORKSPACE] = None) -> None:
        """Revoke a token by name."""
        from nasurf.web import security
        from nasurf.web.workspace import Workspace, default_workspace_dir

        if not security.revoke_token(Workspace(workspace or default_workspace_dir()), name):
            raise ValidationError(f"no active token named {name!r}", field="name")
        typer.echo(f"revoked {name}")

    @token.command("list")
    @handle_errors
    def list_(workspace: Annotated[Path | None, WORKSPACE] = None) -> None:
        """List token names (never the tokens)."""
        import time

        from nasurf.web import security
        from nasurf.web.workspace import Workspace, default_workspace_dir

        for t in security.list_tokens(Workspace(workspace or default_workspace_dir())):
            state = "revoked" if t["revoked_at"] else "active"
            day = time.strftime("%Y-%m-%d", time.localtime(t["created_at"]))
            typer.echo(f"{t['name']}\t{state}\t{day}")

    app.add_typer(token, name="token")
