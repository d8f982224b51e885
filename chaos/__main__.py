"""make chaos: every scenario, each in a process of its own, one after the other; the exit status
is non-zero when any scenario's invariant was violated (or it could not run).

    python -m chaos                  every scenario
    python -m chaos signups          only these (module names)
"""
import os
import signal
import subprocess
import sys
import time

from chaos.common import ROOT

SCENARIOS = [
    ("kill_storm", "sqlite"),
    ("kill_storm", "postgresql"),
    ("pg_restart",),
    ("channels_down",),
    ("signups", "sqlite"),
    ("signups", "postgresql"),
]
BUDGET = 60  # seconds each scenario is meant to take
LIMIT = 180  # seconds after which it is stopped and fails


def main(argv):
    chosen = [s for s in SCENARIOS if not argv or s[0] in argv]
    failed = []
    for scenario in chosen:
        label = " ".join(scenario)
        print(f"== {label}", flush=True)
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", f"chaos.{scenario[0]}", *scenario[1:]], cwd=ROOT, env=os.environ)
        try:
            code = proc.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # it unwinds: its processes and databases go
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            code = f"stopped after {LIMIT} s"
        seconds = time.monotonic() - started
        slow = f" (over its {BUDGET} s)" if seconds > BUDGET else ""
        print(f"== {label}: {'ok' if code == 0 else f'FAILED ({code})'} in {seconds:.0f} s{slow}", flush=True)
        if code != 0:
            failed.append(label)
    if failed:
        print(f"chaos: {len(failed)} of {len(chosen)} failed: {', '.join(failed)}", flush=True)
        return 1
    print(f"chaos: all {len(chosen)} held", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
