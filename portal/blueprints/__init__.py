"""Blueprints: folder name = blueprint name = URL prefix."""


def register(app):
    from portal.blueprints.account import bp as account
    from portal.blueprints.admin import bp as admin
    from portal.blueprints.auth import bp as auth
    from portal.blueprints.main import bp as main
    from portal.blueprints.notices import bp as notices
    from portal.blueprints.tickets import bp as tickets
    from portal.blueprints.suggestions import bp as suggestions
    from portal.blueprints.surveys import bp as surveys
    from portal.blueprints.events import bp as events
    from portal.blueprints.consultations import bp as consultations
    from portal.blueprints.kiosk import bp as kiosk
    from portal.blueprints.disclosure import bp as disclosure
    from portal.blueprints.records import bp as records
    from portal.blueprints.figures import bp as figures
    from portal.blueprints.chat import bp as chat
    from portal.blueprints.duty import bp as duty
    from portal.blueprints.telephony import bp as telephony
    from portal.blueprints.go import bp as go
    from portal.blueprints.notifications import bp as notifications
    from portal.blueprints.wechat import bp as wechat

    app.register_blueprint(main)
    app.register_blueprint(auth, url_prefix="/auth")
    app.register_blueprint(account, url_prefix="/account")
    app.register_blueprint(notices, url_prefix="/notices")
    app.register_blueprint(tickets, url_prefix="/tickets")
    app.register_blueprint(suggestions, url_prefix="/suggestions")
    app.register_blueprint(events, url_prefix="/events")
    app.register_blueprint(consultations, url_prefix="/consultations")
    app.register_blueprint(surveys, url_prefix="/surveys")
    app.register_blueprint(kiosk, url_prefix="/kiosk")
    app.register_blueprint(disclosure, url_prefix="/disclosure")
    app.register_blueprint(records, url_prefix="/records")
    app.register_blueprint(figures, url_prefix="/figures")
    app.register_blueprint(admin, url_prefix="/admin")
    app.register_blueprint(notifications, url_prefix="/notifications")
    app.register_blueprint(wechat, url_prefix="/wechat")
    app.register_blueprint(go, url_prefix="/go")
    app.register_blueprint(duty, url_prefix="/duty")
    app.register_blueprint(chat, url_prefix="/chat")
    app.register_blueprint(telephony, url_prefix="/telephony")
