"""The resident portal: create_app() and nothing else."""
import gc
import os
import secrets

from portal.application import Portal, with_args


def create_app(config=None):
    app = Portal(__name__, instance_relative_config=True)
    app.config.from_object("portal.config.Config")
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "portal.db")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app.instance_path)
    app.config["SESSION_COOKIE_SECURE"] = app.config["SECURE_COOKIES"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # An embedded file needs no connection health check before every request.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {k: v for k, v in app.config["SQLALCHEMY_ENGINE_OPTIONS"].items() if k != "pool_pre_ping"}
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A server that does not answer (a host gone, a network partition) fails a request in seconds, not minutes.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {"connect_timeout": app.config["DATABASE_CONNECT_TIMEOUT"], **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options

    from portal import blueprints, cache, cli, database, errors, hooks, i18n, inputs, templating
    from portal.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
    from portal.fastpath import FastPath
    from portal.notify import channels
    from portal.sessions import Sessions

    channels.check_config(app.config)  # a malformed channel URL stops here, naming its variable
    # Extensions
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"), render_as_batch=True)
    with app.app_context():
        database.tune_sqlite(db.engine)
    csrf.init_app(app)
    limiter.init_app(app)
    htmx.init_app(app)
    app.request_class = with_args(app.request_class)  # (after htmx-flask, which sets its own)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    # What every request goes through, what every failure looks like, what every template shares
    app.session_interface = Sessions()
    inputs.register(app)  # before any route: ids and text in paths
    hooks.register(app)
    errors.register(app)
    templating.register(app)
    # The pages
    blueprints.register(app)
    cli.init_app(app)
    cache.clear()  # one app per process in production; tests make many, each with a fresh database
    # Polls that find nothing new are answered before Flask
    app.wsgi_app = hooks.SecurityHeaders(FastPath(app.wsgi_app, app))
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    if not app.testing:
        # What the process has made so far (modules, mappers, the app) lives as long as it does:
        # moved out of the garbage collector's sight, so its collections do not walk it again
        # and again (3 to 5 % of a kept page's time went there). Tests make many apps: not them.
        gc.freeze()
    return app


def _instance_secret(instance_path):
    """A secret kept in instance/ so sessions survive restarts without any set-up."""
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        # Written aside, then linked into place: several workers starting at once agree on one.
        tmp = f"{path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    with open(path) as f:
        return f.read().strip()
