"""What can be told: every kind with its category, its texts (title, body, the SMS form of one
segment, the WeChat template fields) and whether it is urgent.

The texts are English source strings translated in the Babel catalogues; a resident hears them in
their own language. The SMS form is also the text of the template the company applies for with
its SMS provider (docs/channels.md): its %(name)s placeholders become ${name} (Aliyun) or {1},
{2} ... (Tencent) in `sms_params` order, and `link` is the object's short link.
"""
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

# Categories a person chooses channels for (point 6); "staff" is the back office's own.
TICKETS = "tickets"
NOTICES = "notices"
EVENTS = "events"
CONSULTATIONS = "consultations"
EMERGENCIES = "emergencies"
STAFF = "staff"
RESIDENT_CATEGORIES = (TICKETS, NOTICES, EVENTS, CONSULTATIONS, EMERGENCIES)
CATEGORY_LABELS = {
    TICKETS: _l("My requests and suggestions"),
    NOTICES: _l("Notices for my buildings"),
    EVENTS: _l("Events I signed up for"),
    CONSULTATIONS: _l("Consultations and questionnaires"),
    EMERGENCIES: _l("Emergencies"),
    STAFF: _l("Work"),
}

TICKET_FIELDS = (("character_string1", "number"), ("phrase2", "status"), ("thing3", "what"), ("time4", "time"))
STAFF_FIELDS = (("character_string1", "number"), ("thing2", "what"), ("time3", "due"))
NOTICE_FIELDS = (("thing1", "title"), ("time2", "time"))
EVENT_FIELDS = (("thing1", "title"), ("time2", "time"), ("thing3", "place"))
CONSULTATION_FIELDS = (("thing1", "title"), ("time2", "deadline"))


LABELS = {
    "ticket_registered": _l("Request registered"),
    "ticket_progress": _l("Progress on a request"),
    "ticket_expected": _l("New expected completion date"),
    "ticket_on_hold": _l("Request on hold"),
    "ticket_resumed": _l("Request resumed"),
    "ticket_reply": _l("Answer to a question"),
    "ticket_resolved": _l("Request done"),
    "ticket_formal_reply": _l("Formal written reply issued"),
    "ticket_rating_requested": _l("Rating requested"),
    "suggestion_replied": _l("Suggestion answered"),
    "notice_published": _l("New notice"),
    "notice_emergency": _l("Emergency notice"),
    "event_changed": _l("Event changed"),
    "event_cancelled": _l("Event cancelled"),
    "event_promoted": _l("Place from the waitlist"),
    "event_reminder": _l("Event reminder"),
    "consultation_opened": _l("Consultation opened"),
    "consultation_closing": _l("Consultation closing"),
    "survey_opened": _l("Questionnaire opened"),
    "survey_closing": _l("Questionnaire closing"),
    "ticket_created": _l("New request for customer service"),
    "ticket_message": _l("Resident's message"),
    "ticket_transferred": _l("Transfer slip"),
    "ticket_assigned": _l("Assigned to someone"),
    "ticket_due_soon": _l("Due within the hour"),
    "ticket_overdue": _l("Overdue"),
    "ticket_escalated": _l("Emergency not answered"),
    "channel_test": _l("Test message"),
    "ticket_page": _l("Emergency page"),
    "chat_reply": _l("Reply in the chat"),
    "chat_message": _l("New chat message"),
    "chat_emergency": _l("Emergency word in the chat"),
    "ticket_acknowledged": _l("Emergency acknowledged"),
}


@dataclass(frozen=True)
class Kind:
    name: str
    label: object
    category: str
    title: object
    body: object
    sms: object
    sms_params: tuple
    wechat: tuple = ()
    urgent: bool = False  # ignores quiet hours and the daily cap; never coalesced
    email_template: str = "notification"
    staff_email: bool = False  # the back office also gets it by email (escalations)
    coalesce: bool = False  # several within the window become one SMS
    parallel: bool = False  # a page: SMS, 企业微信 and a voice call at once, not one after another
    voice_params: tuple = ("number", "where")  # what a voice call's TTS template reads
    delay_minutes: int = 0  # messages beyond in-app wait this long (-1: the chat_reply_minutes setting)
    extra: dict = field(default_factory=dict)

    @property
    def for_staff(self):
        return self.category == STAFF


def _k(name, category, title, body, sms, sms_params, wechat=(), **kw):
    return Kind(name, LABELS[name], category, title, body, sms, tuple(sms_params), tuple(wechat), **kw)


KINDS = {k.name: k for k in [
    # The resident's own requests (S3.4, S3.5.1)
    _k("ticket_registered", TICKETS, _l("Registered as %(number)s"),
       _l("Your request %(number)s was registered. We will answer by %(due)s."),
       _l("%(number)s registered %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("ticket_progress", TICKETS, _l("Progress on %(number)s"), _l("%(number)s: %(text)s"),
       _l("%(number)s progressed %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("ticket_expected", TICKETS, _l("%(number)s: expected done by %(expected)s"),
       _l("%(number)s is now expected to be done by %(expected)s. %(text)s"),
       _l("%(number)s done by %(expected)s %(link)s"), ("number", "expected", "link"), TICKET_FIELDS,
       email_template="ticket_step", coalesce=True),
    _k("ticket_on_hold", TICKETS, _l("%(number)s is on hold"), _l("%(number)s is on hold: %(text)s"),
       _l("%(number)s on hold %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("ticket_resumed", TICKETS, _l("%(number)s is being handled again"), _l("Work on %(number)s has resumed."),
       _l("%(number)s resumed %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("ticket_reply", TICKETS, _l("Customer service answered %(number)s"), _l("%(number)s: %(text)s"),
       _l("%(number)s answered %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("ticket_resolved", TICKETS, _l("%(number)s is done"), _l("%(number)s is done: %(text)s"),
       _l("%(number)s done %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("ticket_formal_reply", TICKETS, _l("The written reply to %(number)s"),
       _l("Our formal written reply to your complaint %(number)s is ready to read and download."),
       _l("Written reply to %(number)s %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("ticket_rating_requested", TICKETS, _l("How did we do on %(number)s?"),
       _l("The result of %(number)s was given. Please tell us whether it was resolved and how satisfied you are."),
       _l("Please rate %(number)s %(link)s"), ("number", "link"), TICKET_FIELDS, email_template="ticket_step", coalesce=True),
    _k("suggestion_replied", TICKETS, _l("Your suggestion was answered"), _l("%(title)s: %(status)s. %(text)s"),
       _l("Your suggestion was answered %(link)s"), ("link",), (("thing1", "title"), ("phrase2", "status"), ("time3", "time")),
       email_template="suggestion_reply"),
    # Notices (S2.3, S2.4)
    _k("notice_published", NOTICES, _l("Notice: %(title)s"), _l("%(title)s"),
       _l("Notice: %(title)s %(link)s"), ("title", "link"), NOTICE_FIELDS, email_template="notice"),
    _k("notice_emergency", EMERGENCIES, _l("EMERGENCY: %(title)s"), _l("%(title)s"),
       _l("EMERGENCY: %(title)s %(link)s"), ("title", "link"), NOTICE_FIELDS, urgent=True, email_template="notice"),
    # Events and meetings (S2.2, S4.3)
    _k("event_changed", EVENTS, _l("Changed: %(title)s"), _l("%(title)s is now on %(time)s at %(place)s. %(text)s"),
       _l("Changed: %(title)s, %(time)s %(link)s"), ("title", "time", "link"), EVENT_FIELDS),
    _k("event_cancelled", EVENTS, _l("Cancelled: %(title)s"), _l("%(title)s on %(time)s is cancelled. %(text)s"),
       _l("Cancelled: %(title)s %(time)s %(link)s"), ("title", "time", "link"), EVENT_FIELDS),
    _k("event_promoted", EVENTS, _l("You have a place: %(title)s"),
       _l("A place became free and your household is now signed up for %(title)s on %(time)s."),
       _l("Your place: %(title)s %(time)s %(link)s"), ("title", "time", "link"), EVENT_FIELDS, email_template="event_promoted"),
    _k("event_reminder", EVENTS, _l("Tomorrow: %(title)s"), _l("%(title)s starts %(time)s at %(place)s."),
       _l("Reminder: %(title)s %(time)s %(link)s"), ("title", "time", "link"), EVENT_FIELDS, email_template="event_reminder"),
    # Consultations (S4.2.2)
    _k("consultation_opened", CONSULTATIONS, _l("Your opinion: %(title)s"),
       _l("The owners are consulted on %(title)s until %(deadline)s. One answer per household."),
       _l("Vote by %(deadline)s: %(title)s %(link)s"), ("title", "deadline", "link"), CONSULTATION_FIELDS),
    _k("consultation_closing", CONSULTATIONS, _l("Closes in 24 hours: %(title)s"),
       _l("The consultation on %(title)s closes %(deadline)s and your household has not answered yet."),
       _l("Closes %(deadline)s: %(title)s %(link)s"), ("deadline", "title", "link"), CONSULTATION_FIELDS),
    # Questionnaires and the satisfaction survey (S3.1, S3.5.2)
    _k("survey_opened", CONSULTATIONS, _l("Questionnaire: %(title)s"),
       _l("Please answer the questionnaire %(title)s by %(deadline)s. It takes a few minutes."),
       _l("Survey: %(title)s by %(deadline)s %(link)s"), ("title", "deadline", "link"), CONSULTATION_FIELDS),
    _k("survey_closing", CONSULTATIONS, _l("Closes in 24 hours: %(title)s"),
       _l("The questionnaire %(title)s closes %(deadline)s and has not been answered for you yet."),
       _l("Survey ends %(deadline)s: %(title)s %(link)s"), ("deadline", "title", "link"), CONSULTATION_FIELDS),
    # The back office's work (S3.2, S3.3, S4.2.1)
    _k("ticket_created", STAFF, _l("New request %(number)s (%(category)s)"), _l("%(where)s %(contact)s: %(excerpt)s"),
       _l("New %(number)s %(category)s %(link)s"), ("number", "category", "link"), STAFF_FIELDS),
    _k("ticket_message", STAFF, _l("Message on %(number)s"), _l("%(contact)s wrote: %(excerpt)s"),
       _l("Message on %(number)s %(link)s"), ("number", "link"), STAFF_FIELDS),
    _k("ticket_transferred", STAFF, _l("%(number)s transferred to %(department)s"), _l("Due %(due)s. %(where)s: %(excerpt)s"),
       _l("%(number)s due %(due)s %(link)s"), ("number", "due", "link"), STAFF_FIELDS),
    _k("ticket_assigned", STAFF, _l("Assigned to you: %(number)s"), _l("Due %(due)s. %(where)s: %(excerpt)s"),
       _l("Yours %(number)s due %(due)s %(link)s"), ("number", "due", "link"), STAFF_FIELDS),
    _k("ticket_due_soon", STAFF, _l("Due within the hour: %(number)s"), _l("Due %(due)s. %(where)s: %(excerpt)s"),
       _l("%(number)s due %(due)s %(link)s"), ("number", "due", "link"), STAFF_FIELDS),
    _k("ticket_overdue", STAFF, _l("Overdue: %(number)s"), _l("It was due %(due)s. %(where)s: %(excerpt)s"),
       _l("Overdue: %(number)s %(link)s"), ("number", "link"), STAFF_FIELDS,
       email_template="ticket_overdue", staff_email=True),
    _k("ticket_escalated", STAFF, _l("Emergency %(number)s not answered in %(minutes)s minutes"), _l("%(where)s: %(excerpt)s"),
       _l("URGENT %(number)s unanswered %(link)s"), ("number", "link"), STAFF_FIELDS, urgent=True,
       email_template="ticket_escalation", staff_email=True),
    _k("ticket_acknowledged", TICKETS, _l("%(number)s was taken"), _l("Someone on duty took your emergency %(number)s and is on the way."),
       _l("%(number)s taken, on the way %(link)s"), ("number", "link"), TICKET_FIELDS, urgent=True, email_template="ticket_step"),
    _k("ticket_page", STAFF, _l("EMERGENCY %(number)s %(where)s"), _l("%(excerpt)s Acknowledge now: the chain is paged until someone does."),
       _l("URGENT %(number)s %(where)s %(link)s"), ("number", "where", "link"), STAFF_FIELDS, urgent=True, parallel=True),
    # Online customer service (S2.1.2)
    _k("chat_reply", TICKETS, _l("Customer service replied"), _l("%(text)s"),
       _l("Customer service replied %(link)s"), ("link",), (("thing1", "title"), ("thing2", "what"), ("time3", "time")),
       coalesce=True, delay_minutes=-1),
    _k("chat_message", STAFF, _l("Chat: %(contact)s"), _l("%(where)s %(contact)s: %(excerpt)s"),
       _l("Chat from %(contact)s %(link)s"), ("contact", "link"), STAFF_FIELDS),
    _k("chat_emergency", STAFF, _l("EMERGENCY in the chat: %(contact)s"), _l("%(where)s %(contact)s: %(excerpt)s"),
       _l("URGENT chat %(contact)s %(link)s"), ("contact", "link"), STAFF_FIELDS, urgent=True),
    # Operating it
    _k("channel_test", STAFF, _l("Test message from the resident portal"), _l("If you read this, the channel works."),
       _l("Portal test message %(link)s"), ("link",), (("thing1", "title"), ("time2", "time")), urgent=True),
]}
