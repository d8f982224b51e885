"""The providers' stand-in (tests/standins/providers.py), and the portal configured against it
through the same URLs a company would set, with every kind's templates approved there."""
import pytest

from portal.extensions import db
from portal.notify import kinds
from portal.notify.admin import aliyun_template, tencent_template
from portal.services import settings
from tests.standins.providers import Providers


@pytest.fixture(scope="session")
def standin_server():
    with Providers() as server:
        yield server


def approve_everything(server, app):
    """Every kind's SMS template approved at both providers and its WeChat template in the
    account's library, and their codes entered on the admin page."""
    changes = {}
    with app.test_request_context("/"):
        for i, kind in enumerate(kinds.KINDS.values()):
            aliyun_code, tencent_id, wechat_id = f"SMS_{470000 + i}", str(1900000 + i), f"tpl-{kind.name}"
            server.approve_template("aliyun_sms", aliyun_code, list(kind.sms_params), content=aliyun_template(kind, "zh_Hans"))
            server.approve_template("tencent_sms", tencent_id, {str(n): 32 for n in range(1, len(kind.sms_params) + 1)},
                                    content=tencent_template(kind, "zh_Hans"))
            server.approve_template("tencent_sms", f"9{tencent_id}", {str(n): 32 for n in range(1, len(kind.sms_params) + 1)},
                                    content=tencent_template(kind, "zh_Hans"), international=True)
            server.approve_template("wechat", wechat_id, [key for key, _param in kind.wechat])
            changes[f"wechat_template.{kind.name}"] = wechat_id
            changes[f"sms_template.{kind.name}"] = aliyun_code if "aliyun" in app.config["SMS_URL"] else tencent_id
            changes[f"sms_template_intl.{kind.name}"] = f"9{tencent_id}"
    settings.update(changes, None)
    db.session.commit()


@pytest.fixture
def standin(app, standin_server):
    """The stand-in, fresh for this test, with the app's SMS (Aliyun), WeChat and 企业微信 pointed at it."""
    server = standin_server
    server.reset()
    server.heal()
    urls = server.urls()
    app.config.update(SMS_URL=urls["aliyun"], WECHAT_URL=urls["wechat"], WECOM_URL=urls["wecom"], CHANNEL_TIMEOUT=2)
    app.extensions.pop("portal_channels", None)
    approve_everything(server, app)
    yield server
    server.heal()
    app.extensions.pop("portal_channels", None)


@pytest.fixture
def use_tencent(app, standin):
    """The same, with Tencent Cloud as the SMS provider."""
    app.config["SMS_URL"] = standin.urls()["tencent"] + "&param_max=32"
    app.extensions.pop("portal_channels", None)
    approve_everything(standin, app)
    return standin
