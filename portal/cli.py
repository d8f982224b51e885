"""flask --app portal <command>: seed-demo, demo-logins, create-user, worker, backup, restore, search-reindex."""
import logging
import time

import click
from flask import current_app
from sqlalchemy import select

from portal.database import unit_of_work
from portal.extensions import db
from portal.models import Department, Role, User


def init_app(app):
    app.cli.add_command(seed_demo)
    app.cli.add_command(demo_logins)
    app.cli.add_command(create_user)
    app.cli.add_command(worker)
    app.cli.add_command(kiosk_link)
    app.cli.add_command(purge_expired)
    app.cli.add_command(backup)
    app.cli.add_command(restore)
    app.cli.add_command(channels)
    app.cli.add_command(search_reindex)


@click.command("seed-demo")
@click.option("--scale", type=int, default=0, help="Add N × (10,000 notices, 2,000 residents) for benchmarks.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has people in it.")
def seed_demo(scale, if_empty):
    """Load a believable Chinese demo community."""
    from portal.services import demo

    if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo("The database already has data; demo not loaded.")
        return
    with unit_of_work():
        demo.seed(scale=scale)
    click.echo("Demo community loaded.")


@click.command("demo-logins")
def demo_logins():
    """Print the demo accounts."""
    from portal.services import demo

    click.echo("")
    click.echo("Resident portal: http://127.0.0.1:5000  (demo accounts, password: %s)" % demo.DEMO_PASSWORD)
    for login, role, name in demo.LOGINS:
        click.echo(f"  {login:<14} {role:<10} {name}")
    click.echo("")


@click.command("create-user")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default="admin")
@click.option("--username")
@click.option("--phone")
@click.option("--department")
@click.password_option()
def create_user(name, role, username, phone, department, password):
    """Create an account (an administrator by default)."""
    if not username and not phone:
        raise click.UsageError("Give --username or --phone.")
    user = User(name=name, role=Role(role), username=username, phone=phone)
    if department:
        dept = db.session.scalar(select(Department).where(Department.name == department))
        if dept is None:
            raise click.UsageError(f"No department called {department}")
        user.department_id = dept.id
    user.set_password(password)
    with unit_of_work():
        db.session.add(user)
    click.echo(f"Created {role} {name}.")


@click.command("worker")
@click.option("--once", is_flag=True, help="Do one round of work and exit.")
@click.option("--interval", type=float, default=5.0, help="Seconds between rounds.")
def worker(once, interval):
    """Background work: scheduled notices, fan-out to audiences, ticket reminders, escalations and
    auto-closing, event and consultation reminders, and delivery on every channel. Run as many as
    you like, on as many hosts."""
    from portal.worker import RoundFailed, run_round

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = current_app.logger
    log.setLevel(logging.INFO)
    while True:
        try:
            counts = run_round()
            if any(counts.values()):
                log.info("worker: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        except RoundFailed as failed:  # each part's failure was logged where it happened; the others ran
            log.warning("worker round: %d part(s) failed", len(failed.failures))
            if once:
                raise
        except Exception:  # keep the worker alive through a database restart (the part's unit rolled back)
            log.exception("worker round failed")
            if once:
                raise
        finally:
            db.session.remove()
        if once:
            return
        time.sleep(interval)


@click.command("kiosk-link")
@click.argument("building")
def kiosk_link(building):
    """Print the secret link of BUILDING's lobby screen(s), creating one if it has none."""
    from portal.links import external_url
    from portal.models import Building, KioskScreen, utcnow
    from portal.services import kiosk

    found = db.session.scalar(select(Building).where(Building.name == building))
    if found is None:
        raise click.UsageError(f"No building called {building}")
    screens = db.session.scalars(select(KioskScreen).where(KioskScreen.building_id == found.id, KioskScreen.revoked_at.is_(None))).all()
    if not screens:
        with unit_of_work():
            screens = [kiosk.create(found, "大堂", "landscape", 12, 30, None, None, utcnow())]
    for screen in screens:
        click.echo(f"{screen.name}: {external_url('kiosk.screen', secret=screen.secret)}")


@click.command("purge-expired")
@click.option("--dry-run", is_flag=True, help="List what is past the retention period; remove nothing.")
def purge_expired(dry_run):
    """Remove communication records and closed tickets older than the policy's retention years (S3.6)."""
    from portal.models import utcnow
    from portal.services import records

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if dry_run:
        cutoff, expired_records, expired_tickets = records.expired(utcnow())
    else:
        with unit_of_work():
            cutoff, expired_records, expired_tickets = records.purge(utcnow())
    verb = "would remove" if dry_run else "removed"
    click.echo(f"Retention cut-off {cutoff:%Y-%m-%d %H:%M} UTC: {verb} {len(expired_records)} records and {len(expired_tickets)} tickets.")
    for record in expired_records:
        click.echo(f"  record {record.id}  {record.occurred_at:%Y-%m-%d}  {record.kind.value}")
    for ticket in expired_tickets:
        click.echo(f"  ticket {ticket.number}  closed {ticket.closed_at:%Y-%m-%d}")


@click.command("search-reindex")
def search_reindex():
    """Rebuild the search index of tickets, notices, suggestions and communication records from
    their rows (after rows were written without the ORM, or a change to how text is split)."""
    from portal import search

    with unit_of_work():
        counts = search.reindex()
    click.echo("Search index rebuilt: " + ", ".join(f"{name} {n}" for name, n in counts.items()) + ".")


@click.command("backup")
@click.option("--to", "target", type=click.Path(), help="File to write (default: instance/backups/portal-TIMESTAMP.*).")
def backup(target):
    """A consistent copy of the whole database. Attachments, photos and PDFs live in it, so this is
    a whole backup. SQLite: the online backup API; PostgreSQL: pg_dump (custom format)."""
    import os
    import shutil
    import sqlite3
    import subprocess
    from datetime import datetime, timezone

    url = db.engine.url
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = os.path.join(current_app.instance_path, "backups")
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise click.UsageError("An in-memory database cannot be backed up.")
        target = target or os.path.join(folder, f"portal-{stamp}.db")
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        source = sqlite3.connect(url.database)
        copy = sqlite3.connect(target)
        with copy:
            source.backup(copy)  # consistent even while the portal keeps writing
        copy.close()
        source.close()
    elif url.get_backend_name() == "postgresql":
        if not shutil.which("pg_dump"):
            raise click.ClickException("pg_dump is not installed (apt-get install postgresql-client).")
        target = target or os.path.join(folder, f"portal-{stamp}.pgdump")
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", dsn], check=True)
    else:
        raise click.ClickException(f"No backup method for {url.get_backend_name()}.")
    click.echo(f"Backed up to {target}")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that has data in it.")
def restore(file, force):
    """Put a `backup` FILE back: an SQLite copy onto SQLite, a pg_dump archive onto PostgreSQL.
    Stop the portal and its workers first, start them again afterwards. Refuses a database with
    data in it unless --force; checks every table's row count and every stored file afterwards."""
    from portal import backups

    try:
        backup = backups.read(file)
        click.echo(f"Read {file} to its end: {backups.KIND_NAMES[backup.kind]} backup at revision {backup.revision}, "
                   f"{len(backup.counts)} tables, {backup.rows} rows.")
        backups.restore(backup, force=force)
        click.echo(f"Restored into {db.engine.url.render_as_string(hide_password=True)}.")
        checked = backups.check(backup)
    except backups.RestoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Checked: the row counts of all {checked.tables} tables match the backup ({checked.rows} rows); "
               f"{checked.files} stored file(s) (attachments, photos, PDFs: {checked.bytes} bytes), each matching its SHA-256 and size.")
    heads = backups.head_revisions()
    if backup.revision not in heads:
        click.echo(f"The backup is at revision {backup.revision}, this version of the portal at {', '.join(heads)}: "
                   "run `flask --app portal db upgrade` before starting it.")


@click.group("channels")
def channels():
    """The message channels: check the providers, send a test."""


@channels.command("check")
def channels_check():
    """List the configured channels and fetch a token from each provider, printing the answers."""
    from portal.notify import admin

    failed = False
    for channel, describe, ok, answer in admin.check_all(current_app._get_current_object()):
        click.echo(f"{channel.value:<12} {describe}")
        click.echo(f"{'':<12} {'ok' if ok else 'FAILED'}: {answer}")
        failed = failed or not ok
    if failed:
        raise SystemExit(1)


@channels.command("templates")
def channels_templates():
    """Print each kind's SMS template text to apply for, as Aliyun and Tencent write it."""
    from portal.notify import kinds
    from portal.notify.admin import aliyun_template, sms_sign, tencent_template

    sign = sms_sign(current_app.config)
    with current_app.test_request_context("/"):
        for kind in kinds.KINDS.values():
            click.echo(f"{kind.name}")
            click.echo(f"  Aliyun:  【{sign}】{aliyun_template(kind, 'zh_Hans')}")
            click.echo(f"  Tencent: 【{sign}】{tencent_template(kind, 'zh_Hans')}")


@channels.command("test")
@click.option("--to", "to", required=True, help="A login (username or phone) or a mobile number.")
def channels_test(to):
    """Send one test message on every channel that person has, at once, and print each answer."""
    from portal.models import utcnow
    from portal.notify import admin, phones
    from portal.services import auth

    person = auth.find_user(to)
    phone = None
    if person is None:
        phone, problem = phones.check(to, current_app.config)
        if problem:
            raise click.UsageError(f"{to}: no such login, and {problem}")
    with unit_of_work():
        results = admin.test_message(current_app._get_current_object(), person, phone, utcnow())
    if not results:
        click.echo(f"{to} has no channel beyond in-app (no phone with consent, no bound WeChat, no email, no 企业微信 userid).")
    for channel, address, outcome, answer in results:
        click.echo(f"{channel.value:<12} {address:<32} {outcome:<10} {answer}")
    if any(outcome != "sent" for _c, _a, outcome, _x in results):
        raise SystemExit(1)
