"""The set-up of `make run` and `make test` on a fresh machine: scripts/system-deps.sh installs what
is missing, and waits for another apt process that holds the package lock instead of failing."""
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "system-deps.sh"


def _fake_machine(tmp_path, lock_held_for):
    """A PATH where we are root, no package is installed, and apt-get finds the lock held for its
    first `lock_held_for` calls; every apt-get call is logged."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "apt-get").write_text(f"""#!/bin/sh
echo "$*" >> {log}
calls=$(wc -l < {log})
if [ "$calls" -le {lock_held_for} ]; then
  echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
  exit 100
fi
exit 0
""")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "APT_LOCK_POLL": "1"}, log


def test_set_up_waits_for_another_apt_process_then_installs(tmp_path):
    env, log = _fake_machine(tmp_path, lock_held_for=3)
    done = subprocess.run(["sh", str(SCRIPT), "run"], env={**env, "APT_LOCK_WAIT": "30"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("waiting for it (up to 30s)") == 1
    calls = log.read_text().splitlines()
    assert calls[:3] == ["-o DPkg::Lock::Timeout=0 update -qq"] * 3
    assert calls[3] == "-o DPkg::Lock::Timeout=0 update -qq"  # the lock freed: update went through
    assert calls[4].startswith("-o DPkg::Lock::Timeout=0 install -y -qq --no-install-recommends")
    assert "fonts-noto-cjk" in calls[4] and "libpango-1.0-0" in calls[4]


def test_set_up_gives_up_with_a_clear_message_when_the_lock_stays_held(tmp_path):
    env, log = _fake_machine(tmp_path, lock_held_for=1000)
    done = subprocess.run(["sh", str(SCRIPT), "run"], env={**env, "APT_LOCK_WAIT": "3"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "waiting for it (up to 3s)" in done.stdout
    assert "Gave up after 3s: another apt process still holds the package lock" in done.stderr
    assert len(log.read_text().splitlines()) == 4  # tried at 0, 1, 2 and 3 seconds


def test_set_up_does_not_wait_on_other_apt_errors(tmp_path):
    env, log = _fake_machine(tmp_path, lock_held_for=0)
    (tmp_path / "bin" / "apt-get").write_text(f"#!/bin/sh\necho \"$*\" >> {log}\necho 'E: Unable to locate package fonts-noto-cjk' >&2\nexit 100\n")
    done = subprocess.run(["sh", str(SCRIPT), "run"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Unable to locate package" in done.stderr and "apt-get install failed" in done.stderr
    assert len(log.read_text().splitlines()) == 1
