"""One rule for what comes in (portal/inputs.py), checked from outside on the whole app, on SQLite
and, with TEST_DATABASE_URL, on PostgreSQL: text with control characters is a field error on every
form (found by crawling the demo community as each kind of person and posting every form it shows),
a search or filter made without them, and never stored or shown; an id out of range in any route's
path is 404; a number out of range or a word in any query parameter a view reads (found in the
views' source) is never a fault, downloads streamed by a real server included."""
import ast
import importlib
import inspect
import json
import pkgutil
import re
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import sqlalchemy as sa
import wtforms
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed, NotFound
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import FieldList, FormField

import portal.blueprints
from portal.extensions import db
from portal.forms import Form, SubForm, input_rule
from portal.models import Role
from tests.conftest import PortalClient

BAD = "水管\x00漏水\x01\x1f\x7f了"  # what every text field is sent: NUL, other C0 controls and DEL
CONTROL_ERROR_ZH = "不能包含控制字符"
RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what no page may contain
OUT_OF_RANGE = ["-1", "0", str(2**31), str(2**63), str(10**20), "x"]
DEMO = {"resident": "13800000001", "staff": "kefu", "admin": "admin", "head": "gongcheng", "worker": "weixiu", "committee": "yewei"}
SKIP = re.compile(r"/auth/logout|\.(pdf|csv|ics|png|jpg|svg|ico)\b|/download|/attachments/|/static/|/export|/go/|/photos/|/photo/|/kiosk/")


# The rule is in every form class


def _form_classes():
    for info in pkgutil.walk_packages(portal.blueprints.__path__, "portal.blueprints."):
        importlib.import_module(info.name)
    importlib.import_module("portal.forms")
    found, todo = set(), [wtforms.form.BaseForm]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("portal."):
                found.add(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def _fields(form):
    for field in form:
        if isinstance(field, FormField):
            yield from _fields(field.form)
        elif isinstance(field, FieldList):
            for entry in field:
                yield from (_fields(entry.form) if isinstance(entry, FormField) else [entry])
        else:
            yield field


def test_every_form_class_of_the_app_has_the_input_rule_on_every_field(app):
    classes = _form_classes()
    assert len(classes) > 60  # all of them were found
    assert [c.__name__ for c in classes if not issubclass(c, (Form, SubForm))] == []
    with app.test_request_context("/"):
        for cls in classes:
            fields = list(_fields(cls(formdata=None) if issubclass(cls, Form) else cls()))
            assert [f.name for f in fields if input_rule not in f.validators] == [], cls


class _Sample(Form):
    class Meta:
        csrf = False

    title = StringField()
    body = TextAreaField()
    seats = IntegerField()
    unit = SelectField(coerce=int, choices=[], validate_choice=False)


def _sample(**data):
    return _Sample(formdata=MultiDict(data))


@pytest.mark.parametrize("text", ["a\x00b", "a\x01b", "a\x08b", "a\x0bb", "a\x0cb", "a\x1bb", "a\x1fb", "a\x7fb", "a\ud800b", "\x00"])
def test_a_control_character_is_a_field_error_and_the_text_comes_back_without_it(app, text):
    with app.test_request_context("/"):
        form = _sample(title=text, body=f"第一行\r\n{text}")
        assert not form.validate()
        assert [str(e) for e in form.title.errors] == ["不能包含控制字符：已将其删除，请检查后重新提交。"]
        assert form.title.data == text.replace(text.strip("ab"), "") and form.body.data == "第一行\n" + form.title.data


def test_tabs_and_line_ends_are_text(app):
    with app.test_request_context("/"):
        form = _sample(title="a\tb", body="一\r\n二\r三\n四", seats="2", unit="3")
        assert form.validate(), form.errors
        assert (form.title.data, form.body.data, form.seats.data, form.unit.data) == ("a\tb", "一\n二\n三\n四", 2, 3)


@pytest.mark.parametrize("number", [str(2**31), str(-(2**31) - 1), str(10**20)])
def test_a_number_the_database_cannot_hold_is_a_field_error(app, number):
    with app.test_request_context("/"):
        form = _sample(seats=number, unit=number)
        assert not form.validate()
        assert [str(e) for e in form.seats.errors] == [str(e) for e in form.unit.errors] == ["数字超出范围。"]


# Sign-in, query strings, path segments, callbacks


def test_a_control_character_at_sign_in_is_a_field_error_in_chinese(client, make_user):
    user = make_user(role=Role.STAFF)
    answer = client.post("/auth/login", {"identifier": user.username + "\x00", "password": "secret-pass-1"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and CONTROL_ERROR_ZH in page and not RAW.search(page)
    assert f'value="{user.username}"' in page  # what was typed, without the NUL
    assert client.post("/auth/login", {"identifier": user.username, "password": "secret-pass-1\x00"}).status_code == 200
    client.login(user)


@pytest.mark.parametrize("url, searched", [("/notices/?q=%00漏水", "漏水"), ("/tickets/?q=漏%01水", "漏水"), ("/records/?q=%7f回访", "回访"),
                                           ("/suggestions/?q=停车%1b", "停车"), ("/admin/people?q=%00王", "王")])
def test_a_search_with_a_control_character_is_made_without_it_and_says_so(client, make_user, url, searched):
    client.login(make_user(role=Role.ADMIN))
    answer = client.get(url)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and not RAW.search(page)
    assert '<p class="flash flash-error" role="status">查询条件含有控制字符，已将其删除。</p>' in page
    assert f'value="{searched}"' in page  # the search box holds what was searched for
    assert "查询条件含有控制字符" not in client.get(url.replace("%00", "").replace("%01", "").replace("%7f", "").replace("%1b", "")).get_data(as_text=True)


@pytest.mark.parametrize("url", ["/duty/%00", "/kiosk/%00aaaaaaaaaaaaaaaaaaaa", "/disclosure/%01/history", "/go/%00123"])
def test_a_path_segment_with_a_control_character_is_not_a_page(client, make_user, url):
    client.login(make_user(role=Role.ADMIN))
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("encrypt", [False, True])
def test_a_wechat_message_with_control_characters_is_kept_without_them(app, client, standin, encrypt):
    from portal.models import Conversation, InboundEvent, Sender
    from portal.worker import run_round
    from tests.standins.providers import Providers
    from tests.standins.wechat_push import WeChatPush, text_xml

    push = WeChatPush(Providers.WECHAT_TOKEN, Providers.WECHAT_AES_KEY, Providers.WECHAT_APPID)
    path, body = push.post(text_xml("o_follower\x00", "电梯\x00又坏了\x07\r\n三楼", 6800000002), encrypt=encrypt)
    assert client.http.post(path, data=body, content_type="text/xml").status_code == 200
    payload = db.session.scalar(sa.select(InboundEvent.payload))
    assert (payload["content"], payload["source"]) == ("电梯又坏了\n三楼", "o_follower")
    run_round()
    messages = db.session.scalar(sa.select(Conversation)).messages
    # (the resident's: out of the staffed hours an automatic answer follows, from the system)
    assert [m.body for m in messages if m.sender == Sender.RESIDENT] == ["电梯又坏了\n三楼"]
    xml = text_xml("o_follower", "a&#0;b", 6800000003).replace("<![CDATA[a&#0;b]]>", "a&#0;b")
    path, body = push.post(xml, encrypt=encrypt)  # no XML holds a NUL, even as a character reference
    assert client.http.post(path, data=body, content_type="text/xml").status_code == 400


def test_a_telephone_event_with_control_characters_is_refused(app, client):
    from tests.standins.wechat_push import PBX

    app.config["TELEPHONY_SECRET"] = "pbx-secret"
    body, headers = PBX("pbx-secret").event("ringing", "call-1\x00", caller="1380000\x000001")
    answer = client.http.post("/telephony/events", data=body, headers=headers)
    assert answer.status_code == 400 and answer.json == {"error": "text with control characters"}
    body, headers = PBX("pbx-secret").event("ringing", "call-2", caller="13800000001")
    assert client.http.post("/telephony/events", data=body, headers=headers).status_code == 200


# Every form the app shows, posted with control characters


class _Forms(HTMLParser):
    """The forms of a page (and htmx's hx-post elements), with what a browser would send."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.form, self.select, self.textarea, self.links = [], None, None, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            self.form = {"method": "post" if a.get("hx-post") else (a.get("method") or "get").lower(), "action": a.get("hx-post") or a.get("action"),
                         "fields": [], "buttons": []}
            self.forms.append(self.form)
        elif a.get("hx-post") and tag != "form":
            vals = json.loads(a.get("hx-vals") or "{}")
            self.forms.append({"method": "post", "action": a["hx-post"], "buttons": [],
                               "fields": [("hidden", k, str(v)) for k, v in vals.items()]})
        if self.form is None:
            return
        if tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a and any(f[1] == a["name"] for f in self.form["fields"]):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                kind = "unchecked-" + kind
            if kind != "file":
                self.form["fields"].append((kind, a["name"], a.get("value", "on" if "checkbox" in kind else "")))
        elif tag == "textarea" and a.get("name"):
            self.textarea = ["textarea", a["name"], ""]
        elif tag == "select" and a.get("name"):
            self.select = ["select", a["name"], None, "multiple" in a]
        elif tag == "option" and self.select is not None:
            if self.select[2] is None or "selected" in a:
                self.select[2] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self.form["buttons"].append((a["name"], a.get("value", "")))

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[2] += data

    def handle_endtag(self, tag):
        if self.form is None:
            return
        if tag == "textarea" and self.textarea is not None:
            self.form["fields"].append(tuple(self.textarea))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            if self.select[2] is not None:
                self.form["fields"].append(("select", self.select[1], self.select[2]))
            self.select = None
        elif tag == "form":
            self.form = None


TEXT_INPUTS = {"text", "search", "email", "tel", "url", "password", "textarea"}


def _endpoint(app, path, method):
    adapter = app.url_map.bind("portal.test")
    try:
        return adapter.match(urlsplit(path).path, method=method)[0]
    except (NotFound, MethodNotAllowed):
        return None


def _crawl(app, client, limit=400, per_shape=3):
    """{path: html} of the pages this person reaches from the home page, a few of each shape
    (of tickets, whose forms depend on their state, more)."""
    queue, seen, shapes, pages = ["/"], set(), {}, {}
    while queue and len(pages) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        shape = re.sub(r"\d+", "N", urlsplit(path).path)
        if shapes.get(shape, 0) >= (40 if shape == "/tickets/N" else per_shape):
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        answer = client.get(path)
        assert answer.status_code < 500, path
        if answer.status_code in (301, 302, 303) and answer.location.startswith("/"):
            queue.append(answer.location)
        if answer.status_code != 200 or "text/html" not in answer.content_type:
            continue
        html = answer.get_data(as_text=True)
        pages[path] = html
        parser = _Forms()
        parser.feed(html)
        for href in parser.links:
            url = urljoin("http://portal.test" + path, href.split("#")[0])
            if url.startswith("http://portal.test/") and not SKIP.search(url[len("http://portal.test"):]) and "lang=" not in url:
                queue.append(url[len("http://portal.test"):])
    return pages


def _signed_in(app, login):
    from portal.services import demo

    client = PortalClient(app)
    answer = client.post("/auth/login", {"identifier": login, "password": demo.DEMO_PASSWORD})
    assert answer.status_code == 302, login
    return client


def _post_variants(form):
    """(data, whether a visible text field holds BAD) for each way the form is sent: its visible
    text fields holding BAD (the rest as the page has it), and every text and hidden field holding
    BAD (a tampered form); each once per submit button."""
    fields = [f for f in form["fields"] if not f[0].startswith("unchecked-")]
    visible = any(kind in TEXT_INPUTS for kind, _n, _v in fields)
    hidden = any(kind in ("hidden", "number") and not name.endswith("csrf_token") for kind, name, _v in fields)
    variants = ([(TEXT_INPUTS, True)] if visible else []) + ([(TEXT_INPUTS | {"hidden", "number"}, False)] if hidden else [])
    buttons = [b for b in form["buttons"] if b != ("lang", "en")] or [None]  # the crawl stays in Chinese
    for kinds, shown in variants:
        for button in buttons:
            data = MultiDict([(name, BAD if kind in kinds and not name.endswith("csrf_token") else value) for kind, name, value in fields])
            if button:
                data.add(*button)
            yield data, shown


# POST routes whose forms the crawl does not post, and why
NOT_ON_A_PAGE = {
    "auth.logout": "signs out; nothing typed",
    "wechat.callback": "WeChat's signed XML: test_a_wechat_message_with_control_characters_is_kept_without_them",
    "telephony.events": "the PBX's signed JSON: test_a_telephone_event_with_control_characters_is_refused",
    "kiosk.alive": "the lobby screen's heartbeat, from its script; nothing typed",
    "chat.index": "chat.messages' form (MessageForm), as a resident who never chatted sees it",
    # buttons only (a CSRF token, nothing typed), on pages of states the demo does not have
    "admin.retry_delivery": "a failed message", "admin.revoke_screen": "a lobby screen", "chat.urgent": "an emergency word in a chat",
    "consultations.publish": "a consultation past its deadline", "events.cancel": "a resident's sign-up to cancel",
    "telephony.take": "a call ringing", "tickets.ack_link": "a page's signed link", "tickets.acknowledge": "an urgent ticket paging",
    "tickets.feedback": "a resolved ticket (a choice of how the resident was told)", "wechat.confirm": "a WeChat sign-in",
}


def _states_the_demo_lacks():
    """What a community in use has and the demo does not, so that every form with text is on a page:
    a draft questionnaire, a report and a missed measure, a 12345 work order, a resident's resolved
    ticket to rate, a chat with a WeChat follower nobody knows yet."""
    from datetime import timedelta

    from portal.models import Building, FigureKey, Measure, MeasureStatus, Report, TicketChannel, User, WeChatFollower, utcnow
    from portal.services import chat, surveys, tickets

    now = utcnow()
    kefu = db.session.scalar(sa.select(User).where(User.username == "kefu"))
    resident = db.session.scalar(sa.select(User).where(User.phone == DEMO["resident"]))
    draft = surveys.create("垃圾分类意见征集", "", db.session.scalars(sa.select(Building)).all(), owners_only=False, per_household=True,
                           opens_at=now + timedelta(days=1), closes_at=now + timedelta(days=8), is_satisfaction=False, actor=kefu, now=now)
    surveys.add_question(draft, "single", "您家是否已经分类投放？", True, "是\n否", False, now)
    db.session.add(Report(title="2026年下半年服务评价报告", period_start=(now - timedelta(days=60)).date(), period_end=now.date(),
                          created_by_id=kefu.id))
    db.session.add(Measure(problem="报修回复慢", goal="当天回复", figure=FigureKey.TIMELINESS, target=0.9, owner_id=kefu.id,
                           starts_on=(now - timedelta(days=90)).date(), deadline=(now - timedelta(days=1)).date(), status=MeasureStatus.MISSED))
    tickets.create(category="repair", channel=TicketChannel.GOV_HOTLINE, description="12345转来：3号楼路灯不亮", actor=kefu, now=now,
                   caller_name="市民", gov_order_number="GD2026120001")
    mine, _new = tickets.create(category="repair", channel=TicketChannel.ONLINE, description="厨房水龙头漏水", actor=resident, now=now,
                                resident=resident, unit=resident.residencies[0].unit)
    tickets.resolve(mine, "已更换水龙头", kefu, now)
    tickets.feedback(mine, "phone", kefu, now)
    follower = WeChatFollower(openid="o-unknown-follower", created_at=now)
    db.session.add(follower)
    db.session.flush()
    chat.post(chat.start(None, None, now, channel="wechat", follower=follower), chat.Sender.RESIDENT, "你好，我家门口的灯坏了", now)
    db.session.commit()


def test_every_form_of_the_app_refuses_control_characters(app):
    from portal.services import demo

    demo.seed()
    db.session.commit()
    _states_the_demo_lacks()
    posted, refused_without_message, faults, shown_raw, crawled, skipped = {}, [], [], [], {}, {}
    for role, login in {"signed out": None, **DEMO}.items():
        client = _signed_in(app, login) if login else PortalClient(app)
        pages = _crawl(app, client)
        crawled[role] = len(pages)
        for path, html in pages.items():
            if RAW.search(html):
                shown_raw.append(path)
            parser = _Forms()
            parser.feed(html)
            for form in parser.forms:
                action = urljoin("http://portal.test" + path, form["action"] or path)[len("http://portal.test"):]
                if form["method"] != "post" or SKIP.search(action):
                    continue
                endpoint = _endpoint(app, action, "POST")
                key = (endpoint, tuple(sorted(f[1] for f in form["fields"])), tuple(form["buttons"]))
                if endpoint is None or key in posted:
                    continue
                for data, shown in _post_variants(form):
                    client._fresh_request_globals()
                    answer = client.http.post(action, data=data)
                    body = answer.get_data(as_text=True)
                    if answer.status_code >= 500:
                        faults.append((role, path, action, answer.status_code))
                    elif answer.status_code in (403, 404):
                        skipped.setdefault(endpoint, []).append((role, path, answer.status_code))
                        continue  # not for this person, or not in this state: the form is tried where it is
                    elif shown and (300 <= answer.status_code < 400 or CONTROL_ERROR_ZH not in body):
                        refused_without_message.append((role, path, action, answer.status_code, answer.headers.get("Location")))
                    if RAW.search(body):
                        shown_raw.append(action)
                    posted[key] = (role, path, answer.status_code)
                if not any(f[0] in TEXT_INPUTS | {"hidden", "number"} and not f[1].endswith("csrf_token") for f in form["fields"]):
                    posted[key] = (role, path, None)  # nothing typed or hidden in it to refuse: not sent
    assert faults == []
    assert refused_without_message == [], "\n".join(map(str, refused_without_message))
    assert shown_raw == [], shown_raw
    post_rules = {r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods}
    reached = {k[0] for k in posted}
    missing = sorted(post_rules - reached - set(NOT_ON_A_PAGE))
    assert missing == [], " ".join(missing) + str({k: v for k, v in skipped.items() if k in missing})
    assert sorted(reached & set(NOT_ON_A_PAGE)) == []  # the list names only what the crawl cannot post
    assert _stored_controls() == []


def _stored_controls():
    """(table, column) of every text column in which some row holds a control character."""
    found = []
    for table in db.metadata.sorted_tables:
        if table.info.get("search_index"):
            continue
        for column in table.columns:
            if isinstance(column.type, sa.String) and not isinstance(column.type, sa.Enum):
                for value in db.session.scalars(sa.select(column).where(column.is_not(None))):
                    if RAW.search(value):
                        found.append((table.name, column.name))
                        break
    return found


# Numbers out of range: in every route's path, in every query parameter a view reads


PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _path(rule, number):
    """The rule's path with `number` for each id and a harmless word for each text segment."""
    def fill(match):
        converter, args, _name = match.groups()
        if converter == "int":
            return number
        length = re.search(r"length=(\d+)", args or "")
        return "t" if length and length.group(1) == "1" else "a" * int(length.group(1)) if length else "manager"
    return PLACEHOLDER.sub(fill, rule.rule)


def test_an_id_out_of_range_in_any_route_is_not_found(app, make_user):
    from portal.inputs import INT_MAX

    client = PortalClient(app)
    client.login(make_user(role=Role.ADMIN))
    token = client.csrf_token()
    rules = [r for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert len(rules) > 80
    answers = {}
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for number in OUT_OF_RANGE:
                path = _path(rule, number)
                client._fresh_request_globals()
                answer = client.http.get(path) if method == "GET" else client.http.post(path, data={"csrf_token": token})
                answers[(method, path)] = answer.status_code
            client._fresh_request_globals()
            path = _path(rule, str(INT_MAX))  # the largest id there can be: a query that finds nothing
            answers[(method, path)] = (client.http.get(path) if method == "GET" else client.http.post(path, data={"csrf_token": token})).status_code
            if answers[(method, path)] < 500:
                del answers[(method, path)]
    assert {k: v for k, v in answers.items() if v != 404} == {}


def _read_params(module):
    """{view function name: query parameters it reads}, from the module's source: request.args (or a
    name bound to it) .get/.getlist/[...] with a literal, int_arg("..."), a filter form bound to
    request.args (its fields), and the same in the module's functions it calls, helpers taking the
    parameter's name included."""
    tree = ast.parse(inspect.getsource(module))
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def is_args(node, bound):
        return (isinstance(node, ast.Attribute) and node.attr in ("args", "values") and isinstance(node.value, ast.Name)
                and node.value.id == "request") or (isinstance(node, ast.Name) and node.id in bound)

    bound = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)  # args = request.args.to_dict(), in any function
             and any(isinstance(n, ast.Attribute) and n.attr == "args" for n in ast.walk(node.value))
             for t in node.targets if isinstance(t, ast.Name)}

    def direct(fn):
        names, calls, takes_name = set(), set(), False
        params = {a.arg for a in fn.args.args}
        for node in ast.walk(fn):
            key = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "getlist") \
                    and is_args(node.func.value, bound) and node.args:
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and is_args(node.value, bound):
                key = node.slice
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int_arg" and node.args:
                key = node.args[0]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                calls.add((node.func.id, node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None))
                form = getattr(module, node.func.id, None)
                if inspect.isclass(form) and issubclass(form, wtforms.form.BaseForm) and node.args and is_args(node.args[0], bound):
                    names |= {name for name, _f in form._unbound_fields or inspect.getmembers(form, lambda m: hasattr(m, "field_class"))}
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names.add(key.value)
            elif isinstance(key, ast.Name) and key.id in params:
                takes_name = True
        return names, calls, takes_name

    facts = {name: direct(fn) for name, fn in functions.items()}

    def reads(name, seen):
        names, calls, _takes = facts[name]
        found = set(names)
        for callee, literal in calls:
            if callee in facts and callee not in seen:
                found |= reads(callee, seen | {callee})
                if facts[callee][2] and literal:
                    found.add(literal)
        return found

    return {name: reads(name, {name}) for name in functions}


# What the crawl does not reach by a link: downloads, a search form's page, WeChat's and the sign-in page's
UNLINKED = ("/tickets/export.csv", "/records/export.csv", "/records/register.pdf", "/tickets/residents", "/wechat/callback", "/wechat/oauth",
            "/auth/login")


def test_a_number_out_of_range_in_any_query_parameter_is_never_a_fault(app):
    from portal.services import demo

    demo.seed()
    db.session.commit()
    _states_the_demo_lacks()
    from portal.models import Building, utcnow
    from portal.services import kiosk

    lobby = kiosk.create(db.session.scalars(sa.select(Building)).first(), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    unlinked = [*UNLINKED, f"/kiosk/{lobby.secret}"]  # (a lobby screen's link is given out, not linked)
    params = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        module = importlib.import_module(view.__module__)
        if module.__name__.startswith("portal.blueprints.") and "GET" in rule.methods:
            params[rule.endpoint] = _read_params(module).get(view.__name__, set())
    assert {"q", "building", "before", "since"} <= params["tickets.index"] and {"q", "building", "since"} <= params["tickets.export"]
    assert {"year"} <= params["events.calendar"] and {"department", "building", "start"} <= params["figures.index"]
    tried, faults, reached = 0, [], set()
    for role, login in {**DEMO, "signed out": None}.items():
        client = _signed_in(app, login) if login else PortalClient(app)
        for path in [*_crawl(app, client, limit=200, per_shape=1), *unlinked]:
            endpoint = _endpoint(app, path, "GET")
            if endpoint in reached or not params.get(endpoint):
                continue
            reached.add(endpoint)
            for name in sorted(params[endpoint]):
                for value in OUT_OF_RANGE + ["2026-13-45", str(2**31 - 1)]:
                    client._fresh_request_globals()
                    answer = client.http.get(f"{urlsplit(path).path}?{urlencode({name: value})}")
                    answer.get_data()  # a streamed download runs to its end
                    tried += 1
                    if answer.status_code >= 500:
                        faults.append((role, endpoint, name, value, answer.status_code))
    assert faults == []
    assert sorted(e for e, p in params.items() if p and e not in reached) == [], sorted(e for e, p in params.items() if p and e not in reached)
    assert tried > 300


def test_a_download_with_a_number_out_of_range_or_a_word_in_its_filters_is_never_a_fault_over_http(concurrent_app):
    """The exports stream their rows after the request has ended: only a real server shows what
    happens then (the test client keeps the request's database session open throughout)."""
    import requests

    from portal.models import Building, TicketChannel, Unit, User, utcnow
    from portal.services import records, tickets
    from tests.e2e.conftest import LiveServer

    app = concurrent_app
    with app.app_context():
        staff = User(role=Role.STAFF, username="kefu", name="王敏")
        staff.set_password("secret-pass-1")
        building = Building(name="1号楼", units=[Unit(number="1-101")])
        db.session.add_all([staff, building])
        db.session.flush()
        for n in range(3):
            tickets.create(category="repair", channel=TicketChannel.HOTLINE, description=f"水管漏水{n}", actor=staff, now=utcnow(), caller_name="张先生")
        records.add("call", utcnow(), "回访", staff, utcnow())
        db.session.commit()
        downloads = {"/tickets/export.csv": "tickets.export", "/records/export.csv": "records.export"}
        params = {path: _read_params(importlib.import_module(app.view_functions[e].__module__))[app.view_functions[e].__name__]
                  for path, e in downloads.items()}
    server = LiveServer(app)
    server.start()
    answers = {}
    try:
        with requests.Session() as browser:
            token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(f"{server.url}/auth/login").text).group(1)
            assert browser.post(f"{server.url}/auth/login", data={"csrf_token": token, "identifier": "kefu", "password": "secret-pass-1"}).ok
            for path, names in params.items():
                assert re.search("水管漏水|回访", browser.get(server.url + path).text)  # the rows were streamed
                for name in sorted(names):
                    for value in OUT_OF_RANGE:
                        answer = browser.get(f"{server.url}{path}?{urlencode({name: value})}")  # read to its end, or raises
                        answers[(path, name, value)] = answer.status_code
    finally:
        server.stop()
    assert len(answers) > 60 and {k: v for k, v in answers.items() if v >= 500} == {}


def test_a_query_string_is_looked_into_only_when_it_may_hold_a_control_character():
    """hooks.query_without_controls reads the arguments only when the raw query string could
    decode to a control character: every way of sending one is caught, ordinary searches are not."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from portal.hooks import MAY_HOLD_CONTROLS
    from portal.inputs import has_controls

    for code in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]:
        for query in (f"q=a%{code:02X}b", f"q=a%{code:02x}b", f"a%{code:02X}=1"):
            environ = EnvironBuilder(path="/").get_environ()
            environ["QUERY_STRING"] = query
            args = Request(environ).args
            assert any(has_controls(k) or has_controls(v) for k, v in args.items(multi=True)), query
            assert MAY_HOLD_CONTROLS.search(query), query
    assert MAY_HOLD_CONTROLS.search("q=%ED%A0%80")  # (a surrogate's bytes: not UTF-8, looked into all the same)
    for query in ("q=%E6%BC%8F%E6%B0%B4", "start=2026-01-01&end=2026-06-30&category=repair", "q=a+b%20c", "before=12345"):
        assert not MAY_HOLD_CONTROLS.search(query), query
