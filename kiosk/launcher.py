#!/usr/bin/env python3
"""Lobby-screen launcher: runs Chromium in kiosk mode on the screen's secret link and keeps it
running. It restarts the browser when it exits, and when it stops answering on its DevTools port
(a hung renderer, a frozen GPU process). Python standard library only; never imports the portal.

    python3 launcher.py --config /etc/portal-kiosk.conf
"""
import argparse
import configparser
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

log = logging.getLogger("portal-kiosk")

DEFAULTS = {
    "browser": "",  # empty: the first of chromium, chromium-browser, google-chrome found on PATH
    "debug_port": "9222",
    "profile_dir": os.path.expanduser("~/.cache/portal-kiosk"),
    "check_every": "30",  # seconds between health checks
    "unresponsive_after": "90",  # seconds without an answer before the browser is restarted
    "restart_delay": "5",  # first wait before a restart; doubles while it keeps failing, up to 5 minutes
    "extra_flags": "",  # e.g. "--use-gl=egl" on a Raspberry Pi
}

# What a screen nobody touches needs: full screen, no bars, no crash or translate bubbles, no
# update nags, no first-run pages, no swipe-to-go-back, and a DevTools port for the health check.
KIOSK_FLAGS = [
    "--kiosk",
    "--noerrdialogs",
    "--disable-infobars",
    "--disable-session-crashed-bubble",
    "--disable-features=TranslateUI,Translate",
    "--no-first-run",
    "--no-default-browser-check",
    "--check-for-update-interval=31536000",
    "--overscroll-history-navigation=0",
    "--disable-pinch",
    "--password-store=basic",
    "--autoplay-policy=no-user-gesture-required",
]


def load_config(path):
    parser = configparser.ConfigParser(defaults=DEFAULTS)
    if not parser.read(path, encoding="utf-8"):
        raise SystemExit(f"cannot read the config file {path}")
    if not parser.has_section("kiosk") or not parser.get("kiosk", "url", fallback="").strip():
        raise SystemExit(f"{path}: the [kiosk] section needs url = the screen's link (flask --app portal kiosk-link BUILDING)")
    section = parser["kiosk"]
    return {
        "url": section.get("url").strip(),
        "browser": section.get("browser").strip() or find_browser(),
        "debug_port": section.getint("debug_port"),
        "profile_dir": section.get("profile_dir"),
        "check_every": section.getfloat("check_every"),
        "unresponsive_after": section.getfloat("unresponsive_after"),
        "restart_delay": section.getfloat("restart_delay"),
        "extra_flags": section.get("extra_flags").split(),
    }


def find_browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium found: install it (apt-get install chromium) or set browser = in the config")


def command(config):
    return [
        config["browser"],
        *KIOSK_FLAGS,
        f"--remote-debugging-port={config['debug_port']}",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={config['profile_dir']}",
        *config["extra_flags"],
        config["url"],
    ]


def http_probe(port, timeout=5):
    """True when the browser answers on its DevTools port and has a page open."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as response:
            targets = json.loads(response.read().decode("utf-8"))
        return any(t.get("type") == "page" for t in targets)
    except (OSError, ValueError):
        return False


class Supervisor:
    """Starts the browser, watches it, restarts it. The collaborators are arguments so that the
    logic is tested with a stand-in browser and a fake clock."""

    def __init__(self, config, spawn=subprocess.Popen, probe=http_probe, clock=time.monotonic, sleep=time.sleep):
        self.config = config
        self.spawn = spawn
        self.probe = probe
        self.clock = clock
        self.sleep = sleep
        self.process = None
        self.started_at = None
        self.last_answer = None
        self.restarts = 0
        self.delay = config["restart_delay"]
        self.stopping = False

    def start(self):
        log.info("starting %s", self.config["url"].split("/kiosk/")[0] + "/kiosk/…")
        os.makedirs(self.config["profile_dir"], exist_ok=True)
        self.process = self.spawn(command(self.config))
        self.started_at = self.last_answer = self.clock()

    def kill(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, why):
        log.warning("restarting the browser: %s", why)
        self.kill()
        self.restarts += 1
        self.sleep(self.delay)
        self.delay = min(self.delay * 2, 300)
        self.start()

    def check(self):
        """One round: returns what it did ("ok", "exited", "unresponsive", "waiting")."""
        if self.process.poll() is not None:
            self.restart(f"it exited with code {self.process.returncode}")
            return "exited"
        now = self.clock()
        if self.probe(self.config["debug_port"]):
            self.last_answer = now
            self.delay = self.config["restart_delay"]  # healthy again: the next failure waits little
            return "ok"
        if now - self.last_answer >= self.config["unresponsive_after"]:
            self.restart(f"no answer for {int(now - self.last_answer)} s")
            return "unresponsive"
        return "waiting"

    def run(self, rounds=None):
        self.start()
        done = 0
        while not self.stopping and (rounds is None or done < rounds):
            self.sleep(self.config["check_every"])
            self.check()
            done += 1
        self.kill()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="/etc/portal-kiosk.conf")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    supervisor = Supervisor(load_config(args.config))

    def stop(signum, frame):
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
