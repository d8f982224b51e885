"""The application is wired in one visible place: create_app registers extensions, request hooks,
error handlers, Jinja globals and blueprints, each from the module named for it; no blueprint
imports another, and nothing outside portal/blueprints/ imports a blueprint."""
import ast
import pathlib

import portal

ROOT = pathlib.Path(portal.__file__).parent


def _imports(path):
    """Every module name a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _blueprint_of(module):
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["portal", "blueprints"] else None


def test_no_blueprint_imports_another_and_nothing_else_imports_a_blueprint():
    offences = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        own = relative.parts[1] if relative.parts[0] == "blueprints" and len(relative.parts) > 2 else None
        for module in _imports(path):
            target = _blueprint_of(module)
            if target is None:
                continue
            if relative.parts[0] == "blueprints" and (own is None or target == own):
                continue  # a blueprint's own modules, and the registry in blueprints/__init__.py
            offences.append(f"{relative} imports {module}")
    assert offences == []


def test_app_wide_hooks_error_handlers_and_globals_come_from_their_own_modules(app):
    ours = lambda f: f.__module__.startswith("portal")  # noqa: E731 - extensions add hooks of their own
    assert {f.__module__ for f in app.before_request_funcs.get(None, []) if ours(f)} == {"portal.hooks"}
    assert {f.__module__ for f in app.after_request_funcs.get(None, []) if ours(f)} == {"portal.hooks"}
    handlers = [h for by_class in app.error_handler_spec[None].values() for h in by_class.values()]
    assert handlers and {h.__module__ for h in handlers} == {"portal.errors"}
    for blueprint, spec in app.error_handler_spec.items():
        assert blueprint is None or not spec, f"blueprint {blueprint} handles errors"
    for name in ("emergencies", "bell_state", "policy", "can_admin"):
        assert app.jinja_env.globals[name].__module__ in ("portal.templating", "portal.permissions")


def test_the_main_blueprint_keeps_only_its_pages(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("main.")}
    assert endpoints == {"main.index", "main.language", "main.healthz", "main.favicon"}
    source = (ROOT / "blueprints" / "main" / "views.py").read_text(encoding="utf-8")
    for wiring in ("before_app_request", "after_app_request", "app_errorhandler", "user_loader", "record_once", "jinja_env"):
        assert wiring not in source
