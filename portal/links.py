"""Absolute links for emails, posters and QR codes, which leave the browser."""
from flask import current_app, has_request_context, url_for


def external_url(endpoint, **values):
    base = current_app.config["BASE_URL"].rstrip("/")
    if has_request_context():
        return base + url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return base + url_for(endpoint, **values)
