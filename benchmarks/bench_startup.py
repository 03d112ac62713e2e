"""Start-up of the command line: nasurf's commands as a user runs them, next to navani.

    .venv/bin/python benchmarks/bench_startup.py            # 7 rounds
    .venv/bin/python benchmarks/bench_startup.py -n 15 --file path/to/cycling.mpr

Every command is a fresh process, as the ``nasurf`` console script starts it (this
interpreter, ``from nasurf.cli import main``, nasurf from this checkout's ``src``):

* ``python -c pass``: the floor, an interpreter that does nothing;
* ``nasurf --help``;
* ``nasurf read SMALL --json`` (a 49 kB BioLogic .mpt CV);
* ``nasurf analyze cycling FILE --json`` (navani's own Na BioLogic .mpr: 5 cycles);
* navani: ``import navani.echem``, ``echem_file_loader(FILE)``, ``cycle_summary`` on the
  same file, in the peers' virtual environment (``.venv-peers``, made by ``make bench``;
  navani pins numpy<2). Its interpreter floor is timed too, so each tool's ratio is to
  its own ``python -c pass``.

The commands run alternately, in a rotated order each round, so that load drifting on a
shared machine affects every command alike. Printed per command: minimum and median wall
time over the rounds, the ratio of each to the interpreter floor's, and the minimum CPU
time (user + system of the child) which load on other cores disturbs less. The targets
(issue 12): ``--help`` <= 0.3 s and ``read`` <= 0.5 s wall, ``analyze cycling`` faster
than navani's import + load + summary.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REALDATA = Path(os.environ.get("NASURF_REALDATA", REPO.parent / "shared" / "realdata"))
SMALL = REALDATA / "yadg" / "cv.mpt"
CYCLING = REALDATA / "navani" / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
CONSOLE = "import sys; from nasurf.cli import main; sys.argv[0] = 'nasurf'; sys.exit(main())"
NAVANI = ("import warnings; warnings.filterwarnings('ignore'); import sys; "
          "import navani.echem as ec; df = ec.echem_file_loader(sys.argv[1]); "
          "ec.cycle_summary(df)")


def peers_python() -> Path | None:
    """The peers' interpreter: $NASURF_PEERS_VENV, this checkout's .venv-peers, or the
    main checkout's next to it (worktrees share it)."""
    candidates = [os.environ.get("NASURF_PEERS_VENV"), REPO / ".venv-peers",
                  REPO.parent / "main" / ".venv-peers"]
    for c in candidates:
        if c and (Path(c) / "bin" / "python").exists():
            return Path(c) / "bin" / "python"
    return None


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process; its output is discarded, but a failure
    stops the benchmark (a timing of an error message would be meaningless)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode not in (0,):
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("-n", "--rounds", type=int, default=7)
    ap.add_argument("--small", type=Path, default=SMALL, help="file for `nasurf read`")
    ap.add_argument("--file", type=Path, default=CYCLING,
                    help="cycling file for `nasurf analyze cycling` and navani")
    ap.add_argument("--src", type=Path, default=REPO / "src",
                    help="nasurf source folder to time (e.g. another checkout's, to compare)")
    args = ap.parse_args(argv)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), env.get("PYTHONPATH", "")])
    env.setdefault("NASURF_DATA_DIR", str(REPO / "build" / "bench-startup-data"))
    py = sys.executable
    commands: dict[str, list[str]] = {
        "python -c pass": [py, "-c", "pass"],
        "nasurf --help": [py, "-c", CONSOLE, "--help"],
        f"nasurf read {args.small.name} --json": [py, "-c", CONSOLE, "read", str(args.small),
                                                  "--json"],
        f"nasurf analyze cycling {args.file.name[:24]}... --json": [
            py, "-c", CONSOLE, "analyze", "cycling", str(args.file), "--json"],
    }
    floors = {name: "python -c pass" for name in commands}
    peer = peers_python()
    if peer is None:
        print("  [navani skipped] no peers venv (.venv-peers): create it with `make bench`")
    else:
        commands["peers: python -c pass"] = [str(peer), "-c", "pass"]
        commands["navani import + load + cycle_summary"] = [str(peer), "-c", NAVANI,
                                                             str(args.file)]
        floors["peers: python -c pass"] = "peers: python -c pass"
        floors["navani import + load + cycle_summary"] = "peers: python -c pass"

    names = list(commands)
    for name in names:          # one untimed run each: file cache and .pyc files warm
        run_once(commands[name], env)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            wall, cpu = run_once(commands[name], env)
            walls[name].append(wall)
            cpus[name].append(cpu)

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"start-up of {args.src}, {args.rounds} rounds alternated (wall s; ratio to the "
          f"same interpreter's `python -c pass`; CPU = user+system of the child; load "
          f"average {load} on {os.cpu_count()} cores)")
    print(f"{'command':58s} {'min':>7s} {'median':>7s} {'x floor':>8s} {'x med':>7s} "
          f"{'cpu min':>8s}")
    for name in names:
        floor = walls[floors[name]]
        w = walls[name]
        print(f"{name:58s} {min(w):7.3f} {statistics.median(w):7.3f} "
              f"{min(w) / min(floor):8.1f} {statistics.median(w) / statistics.median(floor):7.1f}"
              f" {min(cpus[name]):8.3f}")

    def best(prefix: str) -> float:
        return min(min(walls[n]) for n in names if n.startswith(prefix))

    print("\ntargets (minimum wall time):")
    print(f"  nasurf --help <= 0.3 s: {best('nasurf --help'):.3f} s "
          f"{'met' if best('nasurf --help') <= 0.3 else 'NOT MET'}")
    print(f"  nasurf read small <= 0.5 s: {best('nasurf read'):.3f} s "
          f"{'met' if best('nasurf read') <= 0.5 else 'NOT MET'}")
    if peer is not None:
        ours, theirs = best("nasurf analyze"), best("navani")
        print(f"  analyze cycling faster than navani: {ours:.3f} s vs {theirs:.3f} s "
              f"(x{theirs / ours:.2f}) {'met' if ours < theirs else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
