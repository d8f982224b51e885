"""What the scenarios (and tests/test_two_hosts.py) share: databases (an SQLite file, or one in a
private PostgreSQL that can be restarted at will), the portal served by gunicorn and `flask
worker` as real processes, browsers that sign in and post forms, the people to sign in as, and
the providers' stand-in with the templates approved. The portal itself is imported only where
rows are set up or counted (portal_app())."""
import glob
import http.client
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)  # the virtualenv's bin/: gunicorn and flask beside this python
PASSWORD = "chaos-pass-1"
FAST_HASH = "pbkdf2:sha256:1000"  # the people the scenarios make sign in fast; the hash names its method


class Violated(AssertionError):
    """An invariant did not hold: the scenario fails."""


def check(condition, message):
    if not condition:
        raise Violated(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise Violated(f"{what}: not within {timeout} s")


# The portal's processes


def portal_env(database_url, **extra):
    """The environment of one host: its database and a secret shared by every host of the run;
    no PORTAL_* setting leaks in from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_DATABASE_URL=database_url, PORTAL_SECRET_KEY=secrets.token_hex(16),
               PORTAL_KEY_PREFIX=f"portal-chaos-{secrets.token_hex(4)}", PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def flask(env, *args):
    """`flask --app portal ARGS...` in a process of its own; its output if it fails."""
    done = subprocess.run([os.path.join(BIN, "flask"), "--app", "portal", *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


_started = []  # every process started here, killed when the scenario ends however it ends


class _Process:
    """A process in a group of its own (gunicorn's master and its workers together), its output in a file."""

    proc = None

    def __init__(self, env, log):
        self.env, self.log = env, log

    def _spawn(self, command):
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        _started.append(self)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9 of the whole group: nothing gets to finish or clean up."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self):
        if not self.running:
            return self.kill()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        self.kill()  # and anything of its group still there

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class Portal(_Process):
    """gunicorn serving the portal on one port: a host."""

    def __init__(self, env, log, port=None, workers=4, preload=True):
        super().__init__(env, log)
        self.port, self.workers, self.preload = port or free_port(), workers, preload

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        # --preload: the master loads the portal once and forks its workers, so that a restart
        # takes one import instead of one per worker on a busy machine
        self._spawn([os.path.join(BIN, "gunicorn"), "--workers", str(self.workers), "--worker-class", "sync",
                     "--bind", f"127.0.0.1:{self.port}", "--timeout", "30", "--graceful-timeout", "2",
                     "--log-level", "warning", *(["--preload"] if self.preload else []), "portal:create_app()"])

        def up():
            if not self.running:
                raise RuntimeError(f"gunicorn exited:\n{self.output()[-3000:]}")
            try:
                return Browser(self.url, timeout=2).get("/healthz").status == 200
            except OSError:
                return False

        wait_for(up, timeout, f"gunicorn on port {self.port} answering /healthz")
        return self


class Worker(_Process):
    """`flask worker`: the outbox, fan-out and the other background work."""

    def start(self, interval=0.2):
        self._spawn([os.path.join(BIN, "flask"), "--app", "portal", "worker", "--interval", str(interval)])
        return self

    def sent(self):
        """Messages this worker reported sent."""
        return sum(int(n) for n in re.findall(r"worker: .*?\bsent (\d+)", self.output()))


# Browsers


@dataclass
class Answer:
    status: int
    location: str
    body: str


CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')


class Browser:
    """One person's browser against one host: cookies, the CSRF token of its session, sign-in.
    `at(other_host)` is the same browser (same cookies) talking to another host. Connection
    failures raise OSError or http.client.HTTPException."""

    def __init__(self, base, state=None, forwarded_for=None, timeout=20):
        self.base, self.forwarded_for, self.timeout = base, forwarded_for, timeout
        self.state = state if state is not None else {"cookies": {}, "csrf": None}

    def at(self, base):
        return Browser(base, self.state, self.forwarded_for, self.timeout)

    def request(self, method, path, fields=None):
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        headers = {"Accept-Language": "zh-CN"}
        cookies = self.state["cookies"]
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        body = None
        if fields is not None:
            body = urlencode(fields, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or ():
            for name, morsel in SimpleCookie(header).items():
                if "1970" in morsel["expires"] or morsel["max-age"] == "0":
                    cookies.pop(name, None)
                else:
                    cookies[name] = morsel.value
        found = CSRF.search(text)
        if found:
            self.state["csrf"] = found.group(1)
        return Answer(response.status, response.headers.get("Location", ""), text)

    def get(self, path):
        return self.request("GET", path)

    def token(self):
        """The CSRF token of this browser's session (a page is fetched if none was seen since sign-in)."""
        if not self.state["csrf"]:
            path = "/auth/login"
            for _ in range(3):
                answer = self.get(path)
                if answer.status not in (301, 302, 303) or self.state["csrf"]:
                    break
                path = urlsplit(answer.location).path or "/"
        check(self.state["csrf"], "no CSRF token on the pages")
        return self.state["csrf"]

    def post(self, path, fields):
        return self.request("POST", path, {"csrf_token": self.token(), **fields})

    def login(self, identifier, password=PASSWORD):
        answer = self.post("/auth/login", {"identifier": identifier, "password": password, "next": ""})
        check(answer.status == 302, f"signing in as {identifier} answered {answer.status}")
        self.state["csrf"] = None  # a new session at sign-in: a new token
        return answer


# Databases


class PrivatePostgres:
    """A throw-away PostgreSQL cluster of its own (initdb into a temporary folder, a free port),
    which a scenario may restart as it likes without touching anyone else's. As root it runs as
    the `postgres` user (initdb refuses root)."""

    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        pg_ctl = found[-1] if found else shutil.which("pg_ctl")
        if not pg_ctl:
            raise RuntimeError("PostgreSQL's server programs are not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(pg_ctl)
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="portal-chaos-pg-")
        self.data, self.logfile = os.path.join(self.folder, "data"), os.path.join(self.folder, "server.log")
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            record = pwd.getpwnam(self.user)
            os.chown(self.folder, record.pw_uid, record.pw_gid)

    def _run(self, program, *args):
        command = [os.path.join(self.bin, program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def _ctl(self, *args):
        self._run("pg_ctl", *args, "-D", self.data, "-l", self.logfile, "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200")

    def start(self):
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
        self._ctl("start")
        return self

    def restart(self):
        """`pg_ctl restart -m immediate`: every connection cut at once, crash recovery at start."""
        self._ctl("restart", "-m", "immediate")

    def stop(self):
        try:
            self._run("pg_ctl", "stop", "-D", self.data, "-m", "immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database):
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name):
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def database(kind, folder):
    """A new database of `kind` ("sqlite" or "postgresql") with the portal's tables (as the
    models describe them: the same schema `flask db upgrade` builds, which tests/test_migrations.py
    checks): yields (url, the private PostgreSQL or None). Gone afterwards."""
    if kind == "sqlite":
        url, server = f"sqlite:///{os.path.join(folder, 'portal.db')}", None
    else:
        server = PrivatePostgres().start()
        url = server.create_database("portal_chaos")
    try:
        from portal.extensions import db

        with portal_app(url):
            db.create_all()
        yield url, server
    finally:
        if server is not None:
            server.stop()


@contextmanager
def portal_app(url):
    """The portal in this process, on `url`, for setting up and counting rows."""
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "setup", "PASSWORD_HASH_METHOD": FAST_HASH,
                      "RATELIMIT_STORAGE_URI": "memory://", "MAIL_URL": None, "REDIS_URL": None})
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def residents(n, building_name="1号楼", phone_prefix="1390000", email_domain=None, **fields):
    """n residents, each in a unit of their own in a new building (with an email address at
    `email_domain` if given); returns their phone numbers. Inside portal_app()."""
    from portal.extensions import db
    from portal.models import Building, Residency, Role, Unit, User

    building = Building(name=building_name)
    db.session.add(building)
    phones = []
    for i in range(n):
        unit = Unit(number=f"{i // 10 + 1}-{i % 10 + 101}", building=building)
        phone = f"{phone_prefix}{i:04d}"
        email = f"{phone}@{email_domain}" if email_domain else None
        person = User(role=Role.RESIDENT, name=f"住户{i + 1}", phone=phone, email=email, **fields)
        person.set_password(PASSWORD)
        person.residencies.append(Residency(unit=unit))
        db.session.add(person)
        phones.append(phone)
    db.session.commit()
    return phones


def staff(username, role="staff", **fields):
    from portal.extensions import db
    from portal.models import Role, User

    person = User(role=Role(role), name=f"员工{username}", username=username, **fields)
    person.set_password(PASSWORD)
    db.session.add(person)
    db.session.commit()
    return username


def approve_templates(app, server, names):
    """The stand-in approves these kinds' SMS (Aliyun) and WeChat templates, and the company
    enters their codes in the settings, as on the admin page. Inside portal_app()."""
    from portal.extensions import db
    from portal.notify.admin import aliyun_template
    from portal.notify.kinds import KINDS
    from portal.services import settings

    changes = {}
    with app.test_request_context("/"):
        for i, name in enumerate(names):
            kind = KINDS[name]
            server.approve_template("aliyun_sms", f"SMS_{470000 + i}", list(kind.sms_params), content=aliyun_template(kind, "zh_Hans"))
            server.approve_template("wechat", f"tpl-{name}", [key for key, _param in kind.wechat])
            changes.update({f"sms_template.{name}": f"SMS_{470000 + i}", f"wechat_template.{name}": f"tpl-{name}"})
    settings.update(changes, None)
    db.session.commit()


def report(name, counts):
    """One line a scenario prints: its name and its counts."""
    print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)


def _terminate(signum, frame):
    raise SystemExit(3)  # the runner's time limit: unwind, so that every process and database goes


def run(scenario, argv):
    """A scenario's process: 0 when its invariants held, 1 when one was violated, 2 on an error."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        scenario(*argv)
    except Violated as exc:
        print(f"VIOLATED: {exc}", flush=True)
        return 1
    except Exception:  # noqa: BLE001 - a broken set-up is not a violated invariant, but fails too
        traceback.print_exc()
        return 2
    finally:
        for process in _started:
            process.kill()
    return 0


class Storm:
    """n threads calling `act(i, stop)` over and over until stopped; each call's outcome is
    recorded by `act` itself."""

    def __init__(self, n, act):
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(i, act), daemon=True) for i in range(n)]
        self.errors = []

    def _loop(self, i, act):
        while not self.stop.is_set():
            try:
                act(i)
            except Exception as exc:  # noqa: BLE001 - kept and raised by join()
                self.errors.append(exc)
                return

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        if self.errors and exc[0] is None:
            raise self.errors[0]
