"""The launcher, driven against a stand-in browser (tests/kiosk/fake_browser.py)."""
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("kiosk_launcher", ROOT / "kiosk" / "launcher.py")
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
FAKE = Path(__file__).with_name("fake_browser.py")


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config(tmp_path):
    return {
        "url": "https://portal.example.com/kiosk/SECRET",
        "browser": "unused",
        "debug_port": _port(),
        "profile_dir": str(tmp_path / "profile"),
        "check_every": 0.2,
        "unresponsive_after": 1.0,
        "restart_delay": 0.1,
        "extra_flags": ["--use-gl=egl"],
    }


def _spawner(modes, log):
    """Starts the fake browser in the next mode of `modes` each time (the last one repeats)."""
    queue = list(modes)

    def spawn(cmd):
        mode = queue.pop(0) if len(queue) > 1 else queue[0]
        env = dict(os.environ, FAKE_BROWSER_LOG=str(log))
        return subprocess.Popen([sys.executable, str(FAKE), mode, *cmd[1:]], env=env)

    return spawn


def _starts(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_browser_command_is_a_kiosk_on_the_screens_link(config):
    cmd = launcher.command(config)
    assert cmd[0] == "unused" and cmd[-1] == config["url"]
    for flag in ("--kiosk", "--noerrdialogs", "--disable-infobars", "--no-first-run", "--use-gl=egl",
                 f"--remote-debugging-port={config['debug_port']}", "--remote-debugging-address=127.0.0.1"):
        assert flag in cmd


def test_a_healthy_browser_is_left_alone(config, tmp_path):
    log = tmp_path / "starts.log"
    sup = launcher.Supervisor(config, spawn=_spawner(["serve"], log))
    sup.start()
    try:
        deadline = time.monotonic() + 10
        while not launcher.http_probe(config["debug_port"], timeout=0.5) and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(5):
            time.sleep(0.2)
            assert sup.check() == "ok"
    finally:
        sup.kill()
    assert sup.restarts == 0 and len(_starts(log)) == 1


def test_a_browser_that_exits_is_started_again(config, tmp_path):
    log = tmp_path / "starts.log"
    sup = launcher.Supervisor(config, spawn=_spawner(["exit", "serve"], log))
    sup.start()
    try:
        sup.process.wait(timeout=10)
        assert sup.check() == "exited"
        assert sup.restarts == 1 and sup.process.poll() is None
        deadline = time.monotonic() + 10
        while len(_starts(log)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sup.kill()
    assert len(_starts(log)) == 2 and _starts(log)[1][-1] == config["url"]


def test_a_browser_that_stops_answering_is_killed_and_restarted(config, tmp_path):
    log = tmp_path / "starts.log"
    sup = launcher.Supervisor(config, spawn=_spawner(["hang", "serve"], log))
    sup.start()
    hung = sup.process
    try:
        results = []
        deadline = time.monotonic() + 10
        while "unresponsive" not in results and time.monotonic() < deadline:
            time.sleep(0.2)
            results.append(sup.check())
        assert "unresponsive" in results and results[0] == "waiting"
        assert hung.poll() is not None  # the hung one was ended
        assert sup.process is not hung and sup.process.poll() is None
    finally:
        sup.kill()


def test_restart_delay_backs_off_and_resets_when_healthy(config):
    class Gone:
        returncode = 1

        def poll(self):
            return 1

        def terminate(self):
            pass

        def wait(self, timeout=None):
            return 1

    waits = []
    sup = launcher.Supervisor(config, spawn=lambda cmd: Gone(), probe=lambda port: False, sleep=waits.append)
    sup.start()
    for _ in range(4):
        sup.check()
    assert waits == [0.1, 0.2, 0.4, 0.8]
    sup.probe = lambda port: True

    class Alive(Gone):
        def poll(self):
            return None

    sup.process = Alive()
    assert sup.check() == "ok" and sup.delay == 0.1


def test_the_config_file_needs_the_link(tmp_path):
    path = tmp_path / "kiosk.conf"
    path.write_text("[kiosk]\nbrowser = /bin/true\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        launcher.load_config(str(path))
    path.write_text("[kiosk]\nurl = https://x/kiosk/abc\nbrowser = /bin/true\nunresponsive_after = 60\n", encoding="utf-8")
    config = launcher.load_config(str(path))
    assert config["url"] == "https://x/kiosk/abc" and config["unresponsive_after"] == 60 and config["debug_port"] == 9222


def test_the_launcher_never_imports_the_portal():
    source = (ROOT / "kiosk" / "launcher.py").read_text(encoding="utf-8")
    assert "import portal" not in source and "from portal" not in source
