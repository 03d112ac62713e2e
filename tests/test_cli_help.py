"""``nasurf --help`` is printed from a static table (no command module imported); the
table must say what the commands themselves say."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import typer.main

from nasurf import cli


def _first_paragraph(text: str | None) -> str:
    para = inspect.cleandoc(text or "").split("\n\n", 1)[0]
    return " ".join(para.split())


def test_static_table_matches_the_commands_help():
    group = typer.main.get_command(cli.build_app())
    ctx = typer.Context(group)
    real = {name: _first_paragraph(group.get_command(ctx, name).help)
            for name in group.list_commands(ctx)}
    static = {name: text for name, (_module, text) in cli.COMMANDS.items()}
    assert static == real


def test_static_table_names_each_commands_module():
    # the module the console script would load for a command must be the one defining it
    for name, (module, _text) in cli.COMMANDS.items():
        group = typer.main.get_command(cli.build_app(name))
        ctx = typer.Context(group)
        assert name in group.list_commands(ctx), (name, module)


def test_help_imports_no_command_module():
    code = ("import sys; from nasurf.cli import main; sys.argv = ['nasurf', '--help']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "heavy = [m for m in ('typer', 'click', 'rich', 'numpy', 'pandas', 'nasurf.io')"
            " if m in sys.modules]\nprint('LOADED', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "Usage: nasurf [OPTIONS] COMMAND" in out
    for name in cli.COMMANDS:
        assert f"  {name} " in out
    assert out.strip().endswith("LOADED []")


def test_no_arguments_prints_help_and_exits_2():
    out = subprocess.run([sys.executable, "-c", "from nasurf.cli import main; main()"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Commands:" in out.stdout


def test_analyze_table_names_the_commands_each_module_registers():
    import typer

    from nasurf.analysis import cli as analyze_cli

    for module, names in analyze_cli.COMMAND_MODULES.items():
        # as the console script builds it: the root with only the owning module loaded
        root = typer.main.get_command(cli.build_app("analyze", names[0]))
        group = root.get_command(typer.Context(root), "analyze")
        assert set(group.list_commands(typer.Context(group))) == set(names), module
    full = typer.main.get_command(analyze_cli.app)
    listed = full.list_commands(typer.Context(full))
    assert sorted(listed) == sorted(n for ns in analyze_cli.COMMAND_MODULES.values()
                                    for n in ns)


def test_console_script_loses_nothing_at_exit(tmp_path, realdata):
    # main() freezes the garbage collector at exit to save start-up time: whatever the
    # command printed or wrote must still be complete and equal to the library's result
    from nasurf.exports import to_bdf_csv
    from nasurf.io import read

    src = realdata / "yadg" / "cv.mpt"
    out = tmp_path / "cli.csv"
    code = "import sys; from nasurf.cli import main; sys.argv[0] = 'nasurf'; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "export", str(src), str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    to_bdf_csv(read(src), tmp_path / "api.csv")
    assert out.read_bytes() == (tmp_path / "api.csv").read_bytes()

    shown = subprocess.run([sys.executable, "-c", code, "read", str(src), "--json"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    summary = json.loads(shown)
    echem = read(src)
    assert summary["rows"] == len(echem) == 5103  # 5161 lines less its 58 "Nb header lines"
    assert summary["technique"] == echem.summary()["technique"]
