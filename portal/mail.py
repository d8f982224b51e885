"""Email texts: templates/email/<name>.txt rendered in the recipient's language. Sending is the
email channel's (portal/notify/channels/email.py), through the outbox like every other channel."""
from flask import render_template
from flask_babel import force_locale


def render_email(template, language, **context):
    """Renders templates/email/<template>.txt in the recipient's language; the first line is the subject."""
    with force_locale(language):
        text = render_template(f"email/{template}.txt", **context)
    subject, _, body = text.strip().partition("\n")
    return subject.strip(), body.strip() + "\n"
