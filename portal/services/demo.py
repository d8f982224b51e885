"""The demo community (翠湖花园): buildings, units, people, departments and notices, in Chinese.

`scale` adds benchmark-sized data with bulk inserts: per step 10,000 notices and 2,000 residents.
"""
import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, update

from portal import cache, search
from portal.extensions import db
from portal.models import (
    Building,
    Channel,
    ConsentRecord,
    Delivery,
    DeliveryStatus,
    Department,
    Event,
    Notice,
    Notification,
    NotificationPref,
    NoticeCategory,
    Residency,
    Role,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketStatus,
    TrainingAttendance,
    TrainingMethod,
    TrainingSession,
    TrainingTopic,
    Unit,
    User,
    notice_building,
    utcnow,
)
from portal.services import notices as notice_service
from portal.services import tickets

DEMO_PASSWORD = "demo1234"
PORTAL_DAYS = 400  # how long ago the demo community started on the portal
# 企业微信 group robots of three departments (a robot's webhook key is a UUID)
ROBOTS = {
    "客服中心": "6b1f0c3e-demo-4a1e-9c2f-kefu00000001",
    "工程维修部": "6b1f0c3e-demo-4a1e-9c2f-gongcheng0001",
    "秩序维护部": "6b1f0c3e-demo-4a1e-9c2f-baoan000000001",
}
DEMO_OPENID = "oDEMO_zhoujie_bound_wechat_0001"  # 周杰 follows the official account and bound it
DEPARTMENTS = ["客服中心", "工程维修部", "秩序维护部", "环境保洁部", "绿化部", "财务部"]
LOGINS = [
    ("admin", "admin", "系统管理员 陈立"),
    ("kefu", "staff", "客服 王敏"),
    ("kefu2", "staff", "客服 李娜"),
    ("gongcheng", "head", "工程维修部 负责人 张强"),
    ("baoan", "head", "秩序维护部 负责人 刘洋"),
    ("baojie", "worker", "保洁员 赵芳"),
    ("weixiu", "worker", "维修工 李师傅（工程维修部值班）"),
    ("yewei", "committee", "业委会 孙建国"),
    ("13800000001", "resident", "业主 周杰（1号楼）"),
    ("13800000002", "resident", "业主 吴婷（2号楼）"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国建华志强海燕雪梅晓东丹凤春梅文博子涵欣怡浩然思远雨桐"

NOTICES = [
    (NoticeCategory.MAINTENANCE, "关于小区二次供水水箱清洗的停水通知",
     "各位业主、住户：\n\n为保障饮用水卫生，物业服务中心将于本周六 **9:00—15:00** 对小区二次供水水箱进行清洗消毒，届时 1—3 号楼将暂停供水。\n\n- 请提前做好储水准备；\n- 停水期间请关闭家中水龙头，避免来水时跑水；\n\n给您带来的不便，敬请谅解。", None, False),
    (NoticeCategory.FEE_STANDARD, "2027年度物业服务费收费标准公示",
     "根据《物业服务合同》约定及业主大会决议，2027年度物业服务费标准如下：\n\n- 住宅：2.20 元/平方米·月\n- 地下车位管理费：80 元/个·月\n\n缴费方式：物业服务中心前台、线上缴费均可。如有疑问请致电服务热线。", None, True),
    (NoticeCategory.SERVICE_COMMITMENT, "物业服务中心服务承诺",
     "我们承诺：\n\n1. 24 小时服务热线随时接听；\n2. 一般报修 30 分钟内响应，紧急报修 15 分钟内到场；\n3. 投诉 48 小时内书面答复；\n4. 每季度召开业主座谈会，公开服务情况。", None, True),
    (NoticeCategory.NEWS, "中秋游园活动圆满结束", "感谢各位业主踊跃参加本次中秋游园活动，活动照片已张贴在小区公告栏。期待下次与您相聚！", None, False),
    (NoticeCategory.SAFETY, "冬季用电用火安全提示", "天气转冷，请各位住户注意：\n\n- 不私拉电线给电动车充电；\n- 电暖器远离窗帘、被褥；\n- 外出时关闭燃气总阀。", None, False),
    (NoticeCategory.MAINTENANCE, "电梯年度检验安排", "市场监管部门将于下周对小区全部电梯进行年度检验，检验期间每部电梯停用约 1 小时，请错峰出行。", None, False),
    (NoticeCategory.NEWS, "垃圾分类宣传周活动预告", "本月第三周为垃圾分类宣传周，届时将在中心广场设置咨询台，欢迎业主参与互动赢取小礼品。", None, False),
    (NoticeCategory.SAFETY, "防范电信诈骗提醒", "近期有不法分子冒充物业人员以“退费”为由实施诈骗。物业不会通过电话索要银行卡密码或验证码，请提高警惕。", None, False),
]
BULLETINS = [
    (NoticeCategory.SAFETY, "{b}楼道消防通道清理通知", "请{b}住户于本周五前清理楼道内堆放的杂物，保持消防通道畅通。逾期未清理的，物业将统一处理。"),
    (NoticeCategory.MAINTENANCE, "{b}外墙维修施工告知", "{b}外墙渗水点维修将于下周一开工，预计工期 5 天，施工期间请勿在楼下停留。"),
]


# Two flats per floor and entrance; their floor area (专有部分面积, m²) as registered, by building.
FLOOR_PLANS = {1: ("89.56", "128.73"), 2: ("89.56", "128.73"), 3: ("76.20", "96.45"), 4: ("76.20", "96.45"), 5: ("112.38", "143.90"),
               6: ("112.38", "143.90")}


def _password_hash():
    probe = User(name="x")
    probe.set_password(DEMO_PASSWORD)
    return probe.password_hash


def _name(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def seed(scale=0, rng=None):
    rng = rng or random.Random(2026)
    now = utcnow()
    pw = _password_hash()
    if db.session.scalar(select(func.count(User.id))) == 0:
        _seed_base(rng, now, pw)
    for step in range(scale):
        _seed_scale(rng, now, pw, step)
    if scale:
        search.reindex(Ticket, Notice)  # the bulk rows bypassed the ORM, and with it the search index
    # What the demo's history would have sent is marked as sent (to the log): the first worker
    # round of `make run` then sends only what happens from now on.
    db.session.execute(
        Delivery.__table__.update().where(Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENT, sent_at=now, provider_id="demo", attempts=1)
    )
    db.session.execute(Ticket.__table__.update().values(next_page_at=None))  # the demo's emergencies are history
    for key in cache.AREAS:
        cache.bump(key)
    first = db.session.scalar(select(func.min(Ticket.created_at)))
    month = first.replace(day=1) if first else now
    while month <= now:  # the figures' months of the tickets written in bulk
        cache.bump(cache.month_key(month))
        month = (month + timedelta(days=32)).replace(day=1)


def _seed_base(rng, now, pw):
    departments = [Department(name=n, robot_webhook=ROBOTS.get(n, "")) for n in DEPARTMENTS]
    db.session.add_all(departments)
    buildings = []
    for b in range(1, 7):
        building = Building(name=f"{b}号楼", address=f"翠湖花园 {b} 号楼")
        db.session.add(building)
        buildings.append(building)
        for entrance in (1, 2):
            for floor in range(1, 16):
                for room in (1, 2):
                    building.units.append(Unit(number=f"{entrance}-{floor}{room:02d}", area=Decimal(FLOOR_PLANS[b][room - 1])))
    db.session.flush()
    dept = {d.name: d for d in departments}
    staff = [
        User(username="admin", name="陈立", role=Role.ADMIN, password_hash=pw, department=dept["客服中心"], wecom_userid="ChenLi"),
        User(username="kefu", name="王敏", role=Role.STAFF, password_hash=pw, department=dept["客服中心"], phone="13900000001",
             wecom_userid="WangMin", phone_extension="8001"),
        User(username="kefu2", name="李娜", role=Role.STAFF, password_hash=pw, department=dept["客服中心"], phone="13900000002",
             wecom_userid="LiNa", phone_extension="8002"),
        User(username="gongcheng", name="张强", role=Role.HEAD, password_hash=pw, department=dept["工程维修部"], phone="13900000003",
             wecom_userid="ZhangQiang"),
        User(username="baoan", name="刘洋", role=Role.HEAD, password_hash=pw, department=dept["秩序维护部"], phone="13900000004",
             wecom_userid="LiuYang"),
        User(username="baojie", name="赵芳", role=Role.WORKER, password_hash=pw, department=dept["环境保洁部"], phone="13900000005",
             wecom_userid="ZhaoFang"),
        User(username="yewei", name="孙建国", role=Role.COMMITTEE, password_hash=pw, phone="13900000006"),
        # more people on the rota: each department has someone on duty at every hour
        User(username="weixiu", name="李师傅", role=Role.WORKER, password_hash=pw, department=dept["工程维修部"], phone="13900000007",
             wecom_userid="LiShifu"),
        User(username="baoan2", name="陈刚", role=Role.WORKER, password_hash=pw, department=dept["秩序维护部"], phone="13900000008",
             wecom_userid="ChenGang"),
        User(username="lvhua", name="孙师傅", role=Role.WORKER, password_hash=pw, department=dept["绿化部"], phone="13900000009",
             wecom_userid="SunShifu"),
        User(username="caiwu", name="钱会计", role=Role.WORKER, password_hash=pw, department=dept["财务部"], phone="13900000010",
             wecom_userid="QianKuaiji"),
    ]
    for person in staff:
        person.created_at = now - timedelta(days=PORTAL_DAYS)  # the community has been on the portal for about a year
    db.session.add_all(staff)
    units = [u for b in buildings for u in b.units]
    residents = []
    named = [("13800000001", "周杰", buildings[0].units[4]), ("13800000002", "吴婷", buildings[1].units[10])]
    for phone, name, unit in named:
        user = User(phone=phone, name=name, role=Role.RESIDENT, password_hash=pw, email=f"{phone}@example.com", sms_consent_at=now)
        user.residencies.append(Residency(unit=unit))
        residents.append(user)
    taken = {id(u) for _, _, u in named}
    free = [u for u in units if id(u) not in taken]
    rng.shuffle(free)
    for i, unit in enumerate(free[:300]):
        user = User(
            phone=f"137{i:08d}",
            name=_name(rng),
            role=Role.RESIDENT,
            password_hash=pw,
            email=f"resident{i}@example.com" if i % 3 else None,
            language="en" if i % 25 == 0 else "zh_Hans",
            sms_consent_at=now if i % 10 else None,  # a tenth never agreed to SMS: in-app and email only
        )
        user.residencies.append(Residency(unit=unit, is_owner=i % 5 != 0))
        residents.append(user)
    residents[0].residencies.append(Residency(unit=buildings[0].units[40], is_owner=True))  # holds two units
    residents[0].wechat_openid, residents[0].wechat_bound_at, residents[0].wechat_consent_at = DEMO_OPENID, now, now
    db.session.add_all(residents)
    db.session.flush()
    _seed_consent(rng, now, residents)
    author = staff[1]
    for i, (category, title, body, expires, pinned) in enumerate(NOTICES):
        notice = Notice(
            title=title,
            body=body,
            body_html=notice_service.render_body(body),
            category=category,
            is_community_wide=True,
            publish_at=now - timedelta(days=2 * i + 1, hours=i),
            expires_at=expires,
            is_pinned=pinned,
            author_id=author.id,
            mailed_at=now,
        )
        db.session.add(notice)
    for building in buildings:
        for category, title, body in BULLETINS:
            db.session.add(
                Notice(
                    title=title.format(b=building.name),
                    body=body.format(b=building.name),
                    body_html=notice_service.render_body(body.format(b=building.name)),
                    category=category,
                    is_community_wide=False,
                    buildings=[building],
                    publish_at=now - timedelta(days=rng.randint(1, 9)),
                    author_id=author.id,
                    mailed_at=now,
                )
            )
    states = [
        dict(title="寒潮蓝色预警：请做好防冻措施", category=NoticeCategory.EMERGENCY, publish_at=now - timedelta(hours=3),
             expires_at=now + timedelta(days=1), body="气象台发布寒潮蓝色预警，请关好门窗，室外水管做好保温，老人儿童减少外出。"),
        dict(title="元旦联欢晚会报名（草稿）", category=NoticeCategory.NEWS, publish_at=None, body="报名方式待定。"),
        dict(title="春节期间物业服务安排", category=NoticeCategory.SERVICE_COMMITMENT, publish_at=now + timedelta(days=20),
             body="春节期间客服中心照常值班，服务热线 24 小时畅通。"),
        dict(title="国庆节假期安全提示", category=NoticeCategory.SAFETY, publish_at=now - timedelta(days=60),
             expires_at=now - timedelta(days=50), body="假期外出请关闭水电燃气。"),
        dict(title="地下车库照明改造通知（已撤回）", category=NoticeCategory.MAINTENANCE, publish_at=now - timedelta(days=5),
             withdrawn_at=now - timedelta(days=4), withdrawn_reason="施工时间调整，另行通知", body="原定施工安排。"),
    ]
    for values in states:
        body = values.pop("body")
        db.session.add(Notice(body=body, body_html=notice_service.render_body(body), author_id=author.id, mailed_at=now, **values))
    db.session.flush()
    first = db.session.scalar(select(Notice).where(Notice.category == NoticeCategory.MAINTENANCE).order_by(Notice.id))
    tickets.ask_on_notice(first, residents[0], "停水期间地下车库的洗车点也停用吗？", now - timedelta(hours=20))
    asked, _ = tickets.ask_on_notice(first, residents[1], "周六家里有老人，能否提供桶装水？", now - timedelta(hours=30))
    tickets.answer_question(asked, "可以，请提前到客服中心登记，我们将在周六 8:30 前送到。", author, now - timedelta(hours=26))
    from portal.services import settings

    settings.update({settings.duty_phone_key(d.id): f"1390000{1000 + i:04d}" for i, d in enumerate(departments)}, staff[0])
    _seed_rota(staff, dept)
    _seed_tickets(rng, now, residents, staff, departments)
    _seed_history(rng, now, residents, staff, departments)
    _seed_chat(now, residents, staff)
    _seed_community(now, residents, staff, buildings)
    _seed_disclosure(now, staff)
    _seed_surveys(random.Random(515), now, residents, staff[1], buildings)
    _seed_routine(now, staff, dept)
    from portal.services import figures

    last_month_end = to_local_date(now).replace(day=1) - timedelta(days=1)
    figures.publish(last_month_end.replace(day=1), last_month_end, staff[1])  # on the board and the lobby screens


def _seed_rota(staff, dept):
    """Day and night shifts in every department and for the duty manager, covering every hour;
    where a department has two people they alternate and stand in for each other."""
    from datetime import time

    from portal.services import duty, settings

    by_name = {u.name: u for u in staff}
    pairs = {
        "客服中心": ("王敏", "李娜"), "工程维修部": ("张强", "李师傅"), "秩序维护部": ("刘洋", "陈刚"),
        "环境保洁部": ("赵芳", None), "绿化部": ("孙师傅", None), "财务部": ("钱会计", None),
    }
    for name, (first, second) in pairs.items():
        day = duty.add_shift(dept[name], "白班", time(8, 0), time(20, 0))
        night = duty.add_shift(dept[name], "夜班", time(20, 0), time(8, 0))
        a, b = by_name[first], by_name.get(second) if second else None
        for weekday in range(7):
            on, off = (a, b) if weekday % 2 == 0 or b is None else (b, a)
            duty.set_pattern(day, weekday, on, off)
            duty.set_pattern(night, weekday, off or on, on if off else None)
    manager_day = duty.add_shift(None, "值班经理", time(8, 0), time(20, 0))
    manager_night = duty.add_shift(None, "值班经理（夜）", time(20, 0), time(8, 0))
    managers = [by_name["陈立"], by_name["张强"], by_name["刘洋"]]
    for weekday in range(7):
        duty.set_pattern(manager_day, weekday, managers[0], managers[1 + weekday % 2])
        duty.set_pattern(manager_night, weekday, managers[1 + weekday % 2], managers[0])
    routes = {"repair": "工程维修部", "complaint": "客服中心", "inquiry": "客服中心", "suggestion": "客服中心", "praise": "客服中心"}
    settings.update({"desk_department": dept["客服中心"].id, **{f"route.{c}": dept[d].id for c, d in routes.items()}}, None)
    db.session.flush()


def _seed_chat(now, residents, staff):
    """Canned replies, a conversation answered, one waiting."""
    from portal.models import CannedReply, Sender
    from portal.services import chat

    db.session.add_all([
        CannedReply(title="快递柜位置", body="快递柜在小区东门岗亭旁边，24 小时可取件。"),
        CannedReply(title="装修登记", body="装修前请携带施工方案和装修公司资质到客服中心办理装修登记。"),
        CannedReply(title="稍等", body="您好，已收到，我们正在为您查询，请稍等。"),
    ])
    kefu = staff[1]
    answered = chat.start(residents[0], residents[0].residencies[0].unit, now - timedelta(hours=3))
    chat.post(answered, Sender.RESIDENT, "请问小区的快递柜在哪里？", now - timedelta(hours=3))
    chat.post(answered, Sender.STAFF, "快递柜在小区东门岗亭旁边，24 小时可取件。", now - timedelta(hours=3) + timedelta(minutes=2), author=kefu)
    waiting = chat.start(residents[1], residents[1].residencies[0].unit, now - timedelta(minutes=6))
    chat.post(waiting, Sender.RESIDENT, "楼道的灯坏了好几天了，什么时候能修？", now - timedelta(minutes=6))
    db.session.flush()


def _seed_consent(rng, now, residents):
    """Consent as the service centre recorded it at registration, and some residents' choices."""
    for person in residents:
        if person.sms_consent_at:
            db.session.add(ConsentRecord(user_id=person.id, channel=Channel.SMS, granted=True, source="registration form", at=now))
        if person.wechat_consent_at:
            db.session.add(ConsentRecord(user_id=person.id, channel=Channel.WECHAT, granted=True, source="WeChat binding", at=now))
    for person in residents[2:]:
        choice = rng.random()
        if choice < 0.2:  # no email copies of ordinary notices
            db.session.add(NotificationPref(user_id=person.id, category="notices", channels="wechat"))
        elif choice < 0.3:  # every notice by SMS too
            db.session.add(NotificationPref(user_id=person.id, category="notices", channels="wechat,sms,email"))


def _seed_scale(rng, now, pw, step):
    """Bulk rows for benchmarks: 10,000 notices (a tenth of them bulletins) and 2,000 residents."""
    buildings = db.session.scalars(select(Building).order_by(Building.id)).all()
    author_id = db.session.scalar(select(User.id).where(User.role == Role.STAFF).order_by(User.id))
    base_unit = 100000 + step * 2000
    unit_rows = [{"building_id": buildings[i % len(buildings)].id, "number": f"S{step}-{i:05d}", "is_active": True,
                  "area": Decimal(FLOOR_PLANS[1 + i % 6][i % 2])} for i in range(2000)]
    db.session.execute(insert(Unit), unit_rows)
    unit_ids = db.session.scalars(select(Unit.id).where(Unit.number.like(f"S{step}-%")).order_by(Unit.id)).all()
    user_rows = [
        {
            "phone": f"136{base_unit + i:08d}",
            "name": _name(rng),
            "role": Role.RESIDENT,
            "password_hash": pw,
            "language": "zh_Hans",
            "sms_consent_at": now,
            "is_active": True,
            "created_at": now,
        }
        for i in range(2000)
    ]
    db.session.execute(insert(User), user_rows)
    user_ids = db.session.scalars(
        select(User.id).where(User.phone.like("136%"), User.phone >= f"136{base_unit:08d}").order_by(User.id).limit(2000)
    ).all()
    db.session.execute(insert(Residency), [{"user_id": u, "unit_id": n, "is_owner": True} for u, n in zip(user_ids, unit_ids)])
    categories = [c for c in NoticeCategory if c != NoticeCategory.EMERGENCY]
    notice_rows = []
    for i in range(10000):
        category, title, body, _, _ = NOTICES[i % len(NOTICES)]
        notice_rows.append(
            {
                "title": f"{title}（第{step * 10000 + i + 1}期）",
                "body": body,
                "body_html": "",
                "category": categories[i % len(categories)],
                "is_community_wide": i % 10 != 0,
                "publish_at": now - timedelta(days=30, minutes=i + step * 10000),
                "expires_at": None if i % 7 else now - timedelta(days=1),
                "is_pinned": False,
                "withdrawn_reason": "",
                "author_id": author_id,
                "created_at": now,
                "updated_at": now,
                "mailed_at": now,
            }
        )
    db.session.execute(insert(Notice), notice_rows)
    html = notice_service.render_body(NOTICES[0][2])
    db.session.execute(Notice.__table__.update().where(Notice.body_html == "").values(body_html=html))
    _seed_scale_tickets(rng, now, user_ids, unit_ids, step)
    bulletin_ids = db.session.scalars(
        select(Notice.id).where(Notice.is_community_wide.is_(False), ~Notice.id.in_(select(notice_building.c.notice_id)))
    ).all()
    db.session.execute(
        insert(notice_building), [{"notice_id": nid, "building_id": buildings[k % len(buildings)].id} for k, nid in enumerate(bulletin_ids)]
    )


TICKET_SAMPLES = {
    TicketCategory.REPAIR: ["卫生间天花板漏水，楼上可能水管破裂", "厨房水龙头关不紧，一直滴水", "楼道灯不亮，晚上很黑", "电梯按钮失灵，按了没反应", "门禁卡刷不开单元门"],
    TicketCategory.COMPLAINT: ["楼下商铺夜间噪音扰民，十一点后还在施工", "垃圾清运不及时，垃圾房异味很大", "车位被外来车辆长期占用"],
    TicketCategory.INQUIRY: ["物业费可以按季度缴纳吗？", "装修需要办理哪些手续？", "小区快递柜在哪里？"],
    TicketCategory.SUGGESTION: ["建议增设电动车充电桩", "建议在儿童游乐区加装遮阳棚"],
    TicketCategory.PRAISE: ["感谢工程部张师傅及时修好了水管，服务很专业"],
}


# What the benchmark's 100,000 tickets say: pieces put together the way residents write, so that
# a search meets common words (漏水 in thousands of tickets) and rare ones (RARE: a handful each).
PLACES = ["厨房", "卫生间", "阳台", "客厅", "主卧", "次卧", "书房", "楼道", "电梯厅", "地下车库", "单元门口", "消防通道", "楼顶",
          "东门", "西门", "中心广场", "儿童游乐区", "垃圾房", "自行车棚", "地面停车场"]
WHEN = ["昨天晚上", "今天早上", "这两天", "从上周开始", "最近一个月", "每天夜里", "刚才"]
ASK = ["请尽快派人处理。", "麻烦师傅上门看看。", "希望尽快解决。", "请回电。", "谢谢！", ""]
PIECES = {
    TicketCategory.REPAIR: ["水管漏水", "天花板渗水", "下水道堵塞", "马桶堵了", "水龙头一直滴水", "灯不亮", "插座没电", "门锁坏了", "窗户关不严",
                            "墙皮脱落", "地砖空鼓", "暖气不热", "电梯有异响", "门禁刷不开", "监控不亮", "水压太小", "排水管漏水"],
    TicketCategory.COMPLAINT: ["噪音扰民", "垃圾没人清理", "异味很大", "车辆乱停乱放", "宠物粪便没人管", "广场舞声音太大", "装修超时施工",
                               "保安态度不好", "有人高空抛物", "绿化带被占用"],
    TicketCategory.INQUIRY: ["物业费可以按季度缴纳吗", "装修需要办理哪些手续", "快递柜在哪里", "停车月卡怎么办理", "门禁卡丢了怎么补办",
                             "水电费在哪里交", "什么时候恢复供水"],
    TicketCategory.SUGGESTION: ["增设电动车充电桩", "加装遮阳棚", "多放几个垃圾桶", "增加路灯", "多组织社区活动", "增设快递柜", "加装休息座椅"],
    TicketCategory.PRAISE: ["维修师傅", "保安", "保洁阿姨", "客服", "绿化师傅"],
}
RARE = ["热水器", "地暖分水器", "燃气表", "晾衣架", "防盗窗", "化粪池", "信报箱", "雨棚", "外墙砖", "排风扇", "浴霸", "吊顶", "烟感",
        "新风机", "壁挂炉", "可视对讲", "蓄水池", "井盖", "避雷带", "伸缩门"]
RARE_EVERY = 997  # one ticket in this many also mentions a RARE word: about five tickets per word in 100,000


def describe(rng, category, i):
    """A believable description for the i-th benchmark ticket."""
    place, when, piece, ask = rng.choice(PLACES), rng.choice(WHEN), rng.choice(PIECES[category]), rng.choice(ASK)
    text = {
        TicketCategory.REPAIR: f"{when}{place}{piece}，{ask}",
        TicketCategory.COMPLAINT: f"{place}{piece}，{when}尤其严重，{ask}",
        TicketCategory.INQUIRY: f"请问{piece}？",
        TicketCategory.SUGGESTION: f"建议在{place}{piece}。",
        TicketCategory.PRAISE: f"感谢{piece}{when}及时帮忙，服务很专业。",
    }[category]
    if i % RARE_EVERY == 0:
        text += f"另外{RARE[(i // RARE_EVERY) % len(RARE)]}也有问题。"
    return text


def _seed_tickets(rng, now, residents, staff, departments):
    """A register with tickets in every state, from every channel, as customer service would have it."""
    kefu, head = staff[1], staff[3]
    engineering = departments[1]
    security = departments[2]
    cleaning = departments[3]

    def new(category, text, resident, hours_ago, channel=TicketChannel.ONLINE, urgent=False, actor=None):
        unit = resident.residencies[0].unit
        ticket, _ = tickets.create(
            category=category, channel=channel, description=text, actor=actor or resident, now=now - timedelta(hours=hours_ago),
            resident=resident, unit=unit, is_urgent=urgent, preferred_visit="工作日 18:00 以后" if category == TicketCategory.REPAIR else "",
        )
        return ticket

    def at(hours_ago):
        return now - timedelta(hours=hours_ago)

    # registered, not yet transferred
    new(TicketCategory.REPAIR, TICKET_SAMPLES[TicketCategory.REPAIR][2], residents[3], 2)
    new(TicketCategory.INQUIRY, TICKET_SAMPLES[TicketCategory.INQUIRY][0], residents[4], 1, channel=TicketChannel.HOTLINE, actor=kefu)
    # transferred
    t = new(TicketCategory.REPAIR, TICKET_SAMPLES[TicketCategory.REPAIR][1], residents[5], 6)
    tickets.transfer(t, engineering, [], kefu, at(5))
    # in progress with an expected date
    t = new(TicketCategory.REPAIR, TICKET_SAMPLES[TicketCategory.REPAIR][0], residents[0], 30)
    tickets.transfer(t, engineering, [], kefu, at(29))
    tickets.progress(t, "已上门查看，系楼上住户卫生间防水层老化，已约楼上住户明天维修。", (now + timedelta(days=1)).date(), head, at(20))
    # on hold
    t = new(TicketCategory.REPAIR, TICKET_SAMPLES[TicketCategory.REPAIR][3], residents[6], 50)
    tickets.transfer(t, engineering, [], kefu, at(49))
    tickets.hold(t, "等待电梯厂家配件到货，预计三天", head, at(40))
    # overdue complaint, co-department
    t = new(TicketCategory.COMPLAINT, TICKET_SAMPLES[TicketCategory.COMPLAINT][1], residents[7], 80)
    tickets.transfer(t, cleaning, [security], kefu, at(79))
    # urgent, call recorded
    t = new(TicketCategory.REPAIR, "地下车库入口积水严重，车辆无法通行", residents[8], 3, channel=TicketChannel.HOTLINE, urgent=True, actor=kefu)
    tickets.record_call(t, "工程维修部 张强 13900000003", at(2.9), kefu, at(2.9))
    tickets.transfer(t, engineering, [security], kefu, at(2.8))
    # resolved, waiting for feedback
    t = new(TicketCategory.INQUIRY, TICKET_SAMPLES[TicketCategory.INQUIRY][1], residents[9], 26)
    tickets.resolve(t, "装修前请到客服中心办理装修登记，携带施工方案和装修公司资质。", kefu, at(25))
    # feedback given, waiting for the rating
    t = new(TicketCategory.SUGGESTION, TICKET_SAMPLES[TicketCategory.SUGGESTION][0], residents[10], 100, channel=TicketChannel.WALK_IN, actor=kefu)
    tickets.transfer(t, engineering, [], kefu, at(99))
    tickets.resolve(t, "已列入下季度改造计划，预计在 3 号楼旁增设 20 个充电桩。", head, at(60))
    tickets.feedback(t, "phone", kefu, at(59))
    # closed with a rating
    t = new(TicketCategory.PRAISE, TICKET_SAMPLES[TicketCategory.PRAISE][0], residents[11], 200)
    tickets.resolve(t, "感谢您的认可，已转达工程维修部并给予表扬。", kefu, at(190))
    tickets.feedback(t, "portal", kefu, at(189))
    tickets.rate(t, 5, "谢谢", True, residents[11], at(150))
    # a complaint with its formal reply, closed after the call-back
    t = new(TicketCategory.COMPLAINT, TICKET_SAMPLES[TicketCategory.COMPLAINT][0], residents[1], 300)
    tickets.transfer(t, security, [], kefu, at(299))
    tickets.progress(t, "已约谈商铺负责人，要求晚上十点后停止施工。", None, staff[4], at(280))
    tickets.resolve(t, "商铺已承诺夜间不再施工，秩序维护部每晚巡查。", staff[4], at(260))
    tickets.formal_reply(t, "您反映的商铺夜间施工噪音问题，我中心已约谈商铺负责人并责令整改，商铺已书面承诺晚上十点后停止施工。秩序维护部将每晚巡查，如仍有扰民请随时拨打服务热线。感谢您的监督。", kefu, at(255))
    tickets.feedback(t, "written", kefu, at(254))
    tickets.rate(t, 4, "回访时态度很好", True, kefu, at(230), by_staff=True)
    # reopened after "not resolved"
    t = new(TicketCategory.REPAIR, TICKET_SAMPLES[TicketCategory.REPAIR][4], residents[12], 120)
    tickets.transfer(t, engineering, [], kefu, at(119))
    tickets.resolve(t, "已重新录入门禁卡。", head, at(100))
    tickets.feedback(t, "sms", kefu, at(99))
    tickets.rate(t, 2, "还是刷不开", False, residents[12], at(90))
    # relayed by other staff
    worker = staff[5]
    tickets.create(
        category=TicketCategory.COMPLAINT, channel=TicketChannel.RELAYED, description="住户反映 5 号楼垃圾桶满溢无人清理", actor=worker,
        now=at(4), caller_name="5号楼住户（未留姓名）", caller_unit="5号楼",
    )


def _seed_scale_tickets(rng, now, user_ids, unit_ids, step, count=100_000):
    """Bulk tickets over the past year, in every status, numbered after what the counters hold."""
    from portal.i18n import to_local
    from portal.models import EventKind, Ticket, TicketCounter, TicketEvent, TicketStatus
    from portal.models.tickets import NUMBER_PREFIX

    units = dict(db.session.execute(select(Unit.id, Unit.building_id).where(Unit.id.in_(unit_ids))).all())
    departments = db.session.scalars(select(Department.id).order_by(Department.id)).all()
    counters = {(c.category, c.year): c for c in db.session.scalars(select(TicketCounter))}
    categories = list(TicketCategory)
    statuses = [TicketStatus.CLOSED] * 6 + [TicketStatus.FEEDBACK_GIVEN, TicketStatus.RESOLVED, TicketStatus.IN_PROGRESS, TicketStatus.NEW]
    words = random.Random(f"descriptions-{step}")  # a generator of its own: the rest of the data stays as it was
    rows = []
    for i in range(count):
        created = now - timedelta(days=365) + timedelta(seconds=int(365 * 86400 * i / count))
        category = categories[(i * 7) % len(categories)] if i % 3 else TicketCategory.REPAIR
        year = to_local(created).year
        counter = counters.get((category, year))
        if counter is None:
            counter = counters[(category, year)] = TicketCounter(category=category, year=year, last_number=0)
            db.session.add(counter)
        counter.last_number += 1
        status = statuses[i % len(statuses)]
        k = i % len(user_ids)
        done = status in (TicketStatus.CLOSED, TicketStatus.FEEDBACK_GIVEN, TicketStatus.RESOLVED)
        due = created + timedelta(hours=48)
        feedback_at = created + timedelta(hours=rng.choice((6, 20, 40, 60))) if status in (TicketStatus.CLOSED, TicketStatus.FEEDBACK_GIVEN) else None
        rows.append({
            "number": f"{NUMBER_PREFIX[category]}-{year}-{counter.last_number:04d}",
            "category": category, "channel": TicketChannel.ONLINE if i % 4 else TicketChannel.HOTLINE, "status": status,
            "is_urgent": i % 50 == 0, "response_due_at": created + timedelta(minutes=30) if i % 50 == 0 else None,
            "acknowledged_at": created + timedelta(minutes=12) if i % 50 == 0 else None, "description": describe(words, category, i),
            "preferred_visit": "", "resident_id": user_ids[k], "caller_name": "", "caller_phone": "", "caller_unit": "",
            "unit_id": unit_ids[k], "building_id": units[unit_ids[k]], "lead_department_id": departments[1 + i % (len(departments) - 1)],
            "assigned_at": created + timedelta(minutes=20), "due_at": due, "hold_reason": "",
            "resolved_at": created + timedelta(hours=5) if done else None, "result": "已处理" if done else "",
            "feedback_at": feedback_at, "feedback_method": "phone" if feedback_at else "",
            "rating": (5, 4, 4, 3, 5, 2)[i % 6] if status == TicketStatus.CLOSED else None, "rating_comment": "",
            "rated_at": feedback_at + timedelta(hours=2) if status == TicketStatus.CLOSED else None,
            "closed_at": feedback_at + timedelta(hours=2) if status == TicketStatus.CLOSED else None,
            "reopened_count": 1 if i % 40 == 0 else 0, "reclassified_count": 1 if i % 55 == 0 else 0, "created_at": created,
        })
    db.session.flush()
    for chunk in range(0, len(rows), 5000):
        db.session.execute(insert(Ticket), rows[chunk : chunk + 5000])
    first_id = db.session.scalar(select(func.min(Ticket.id)).where(Ticket.number == rows[0]["number"]))
    db.session.execute(
        insert(TicketEvent),
        [{"ticket_id": first_id + n, "kind": EventKind.CREATED, "is_internal": False, "body": r["description"], "data": {}, "created_at": r["created_at"]}
         for n, r in enumerate(rows)],
    )


def _next_weekday(local_now, weekday, hour, weeks_ahead):
    from datetime import datetime

    from portal.i18n import from_local

    day = local_now.date() + timedelta(days=(weekday - local_now.weekday()) % 7 + 7 * weeks_ahead)
    return from_local(datetime(day.year, day.month, day.day, hour))


def _seed_community(now, residents, staff, buildings):
    """Suggestions, events in the calendar, a forum with sign-ups, a consultation."""
    from portal.i18n import to_local
    from portal.models import EventType
    from portal.services import consultations, events, suggestions

    kefu = staff[1]
    local = to_local(now)
    posts = [
        (residents[2], "facilities", "建议增设电动车充电桩", "小区电动车越来越多，楼道充电有安全隐患，建议在地面车棚增设充电桩。", False),
        (residents[3], "environment", "垃圾分类投放点增加洗手池", "投放厨余垃圾后没有地方洗手，建议在投放点旁增加洗手池。", True),
        (residents[4], "security", "夜间东门加强巡逻", "晚上十点后东门附近比较暗，建议增加照明和巡逻。", False),
        (residents[5], "activities", "希望多组织亲子活动", "周末可以组织一些亲子手工或运动活动。", False),
    ]
    made = []
    for i, (author, topic, title, body, anonymous) in enumerate(posts):
        item = suggestions.post(author, author.residencies[0].unit, topic, title, body, anonymous, False, now - timedelta(days=12 - i * 2))
        made.append(item)
    for supporter in residents[6:20]:
        suggestions.support(made[0], supporter, supporter.residencies[0].unit, now - timedelta(days=5))
    for supporter in residents[20:26]:
        suggestions.support(made[2], supporter, supporter.residencies[0].unit, now - timedelta(days=4))
    suggestions.open_box(kefu, now - timedelta(days=3))
    suggestions.answer(made[2], "planned", "已安排秩序维护部增加夜间巡逻频次，东门照明将在本月内增设两盏路灯。", kefu, now - timedelta(days=2))
    suggestions.start_study(made[0], staff[3], (now + timedelta(days=20)).date(), "联系供电部门确认容量，比选充电桩供应商。", kefu, now - timedelta(days=3))
    suggestions.post(residents[7], residents[7].residencies[0].unit, "fees", "物业费能否按季度缴纳", "一次交一年压力较大。", False, False, now - timedelta(hours=6))
    # the calendar: a monthly activity in every past month but one, a forum in every past quarter
    # but one (the staff home points at both gaps), the coming quarterly forum, a drill
    for first in _past_months(local.date(), PORTAL_DAYS):
        if _months_between(first, local.date()) == 3:
            continue
        start = _second_saturday(first, 15)
        activity = events.create(kind=EventType.ACTIVITY, title=f"社区文化活动（{first.month}月）", description="邻里手工、亲子游戏。",
                                 location="中心广场", starts_at=start, ends_at=start + timedelta(hours=2), capacity=None, seats_per_household=3,
                                 signup_deadline=None, buildings=[], actor=kefu, now=start - timedelta(days=10))
        if start < now:  # households signed up, and most came (the participation figure, S5)
            households = 12 + (first.month * 7) % 17
            for i, resident in enumerate(residents[40:40 + households]):
                signup = events.sign_up(activity, resident, resident.residencies[0].unit, 1 + i % 3, start - timedelta(days=3, hours=i))
                signup.attended = i % 6 != 5
        quarters_back = (local.year * 12 + local.month - 1) // 3 - (first.year * 12 + first.month - 1) // 3
        if first.month % 3 == 2 and quarters_back >= 1 and quarters_back != 2:  # the middle month of a past quarter
            forum = _second_saturday(first, 9)
            db.session.add(Event(  # long past: its announcement expired with it, so none is posted now
                kind=EventType.FORUM, title=f"{first.year}年第{(first.month - 1) // 3 + 1}季度业主座谈会", description="通报本季度服务情况，听取业主意见。",
                location="物业服务中心二楼会议室", starts_at=forum, ends_at=forum + timedelta(hours=2), capacity=20, seats_per_household=1,
                created_by_id=kefu.id, created_at=forum - timedelta(days=14)))
    forum_start = _next_weekday(local, 5, 9, 2)
    forum = events.create(kind=EventType.FORUM, title="第四季度业主座谈会", description="通报本季度服务情况，听取业主意见。", location="物业服务中心二楼会议室",
                          starts_at=forum_start, ends_at=forum_start + timedelta(hours=2), capacity=20, seats_per_household=1,
                          signup_deadline=forum_start - timedelta(days=1), buildings=[], actor=kefu, now=now)
    suggestions.to_agenda(made[0], forum)
    for resident in residents[10:15]:
        events.sign_up(forum, resident, resident.residencies[0].unit, 1, now)
    activity_start = _next_weekday(local, 6, 14, 1)
    events.create(kind=EventType.ACTIVITY, title="垃圾分类知识竞赛", description="现场答题赢环保袋。", location="中心广场", starts_at=activity_start,
                  ends_at=activity_start + timedelta(hours=2), capacity=40, seats_per_household=2, signup_deadline=None, buildings=[],
                  actor=kefu, now=now - timedelta(days=8))
    drill_start = _next_weekday(local, 2, 19, 1)
    events.create(kind=EventType.DRILL, title="3号楼消防疏散演练", description="请3号楼住户听到警报后沿楼梯疏散。", location="3号楼",
                  starts_at=drill_start, ends_at=drill_start + timedelta(hours=1), capacity=None, seats_per_household=4, signup_deadline=None,
                  buildings=[buildings[2]], actor=kefu, now=now)
    question = consultations.create(
        "是否同意使用公共维修资金更换1、2号楼电梯", "1、2号楼电梯已使用十五年，年检多次整改。拟使用公共维修资金更换，预计每部电梯约45万元。",
        ["同意更换", "不同意", "希望先召开说明会"], now + timedelta(days=14), buildings[:2], kefu, now - timedelta(days=2),
    )
    for resident in residents[:30]:
        unit = resident.residencies[0].unit
        if unit.building_id in (buildings[0].id, buildings[1].id) and resident.residencies[0].is_owner:
            consultations.answer(question, resident, unit, question.options[len(resident.name) % 3].id, now - timedelta(days=1))
    _seed_decisions(now, residents, kefu, buildings)


FEES = [  # (item, scope, price, unit, note): this year's standard; next year's raises the first row to 2.20
    ("物业服务费", "住宅（1—6号楼）", "2.00", "元/㎡·月", "按房屋建筑面积计收，按季度预交"),
    ("物业服务费", "底层商铺", "3.50", "元/㎡·月", ""),
    ("电梯运行维护费", "住宅（1—6号楼）", "0.30", "元/㎡·月", "一楼住户免收"),
    ("地下车位管理费", "已购车位", "80", "元/个·月", ""),
    ("地下车位租赁费", "未售车位", "300", "元/个·月", "按月或按年租用"),
    ("临时停车费", "外来车辆", "2", "元/小时", "首 1 小时免费，24 小时内最高 20 元"),
    ("装修垃圾清运费", "住宅装修", "300", "元/户", "一次性收取"),
]
FEE_BASIS = ("**收费依据**：《物业服务合同》第五章及业主大会决议；收费标准已报价格主管部门备案。\n\n"
             "**缴费方式**：物业服务中心前台（现金、刷卡、微信、支付宝）或线上缴费。\n\n"
             "本小区不收取公示以外的任何费用。如发现超标准收费，请拨打服务热线，或向价格主管部门举报（12315）。")
COMMITMENTS = """我们承诺：

1. 服务热线 24 小时有人接听，来电、来访、线上诉求当即登记，统一编号跟踪到底。
2. 一般报修 30 分钟内响应，2 小时内到场（与业主另约时间的除外）；紧急报修（水管爆裂、电梯困人、燃气泄漏等）{minutes} 分钟内到场。
3. 咨询当日答复；投诉 48 小时内书面答复；处理结果全部回访。
4. 公共区域每日清扫保洁，生活垃圾日产日清；绿化按季修剪养护。
5. 秩序维护人员 24 小时值守，重点部位每 2 小时巡查一次。
6. 每月组织一次社区文化活动，每季度召开一次业主座谈会，通报服务工作情况。
7. 收费项目与标准全部公示，不收取公示以外的任何费用。
8. 意见箱每周开启一次，书面意见 5 个工作日内答复。"""
HOURS = """**物业服务中心**：小区会所一层（3号楼与4号楼之间）

- 前台接待：每日 8:00—20:00（节假日照常）
- 收费窗口：{cashier}
- 报修受理：24 小时（夜间由秩序维护部值班人员受理）
- 服务中心邮箱：service@cuihu.example.com

夜间、节假日遇紧急情况，请直接拨打 24 小时服务热线。"""


def _seed_disclosure(now, staff):
    """The disclosure board (信息公示): this year's fee standard and next year's, published ahead
    with its notice; the commitments and the hours each changed once; the heads' note."""
    from datetime import date, datetime

    from portal.i18n import from_local, to_local
    from portal.services import disclosure

    admin, kefu = staff[0], staff[1]
    year = to_local(now).year
    rows = [dict(zip(disclosure.FEE_FIELDS, row)) for row in FEES]
    disclosure.save("fees", body=FEE_BASIS, fees=rows, effective_on=date(year, 1, 1), note="本年度收费标准。", base=0, actor=admin,
                    now=from_local(datetime(year - 1, 12, 1, 10)))
    notice = db.session.scalar(select(Notice).where(Notice.category == NoticeCategory.FEE_STANDARD).order_by(Notice.id))
    raised = [dict(rows[0], price="2.20"), *rows[1:]]
    nxt = disclosure.save("fees", body=FEE_BASIS, fees=raised, effective_on=date(year + 1, 1, 1), base=1, actor=admin,
                          note=f"经{year}年第二次业主大会表决通过，住宅物业服务费由 2.00 元调整为 2.20 元/㎡·月，其余项目不变。",
                          now=notice.publish_at - timedelta(minutes=10))
    nxt.notice_id = notice.id
    disclosure.save("commitments", body=COMMITMENTS.format(minutes=30), note="服务承诺。", base=0, actor=admin, now=now - timedelta(days=300))
    disclosure.save("commitments", body=COMMITMENTS.format(minutes=15), note="紧急报修到场时间由 30 分钟缩短为 15 分钟。", base=1, actor=admin,
                    now=now - timedelta(days=40))
    disclosure.save("hours", body=HOURS.format(cashier="周一至周六 8:30—17:30"), note="服务时间与联系方式。", base=0, actor=kefu,
                    now=now - timedelta(days=200))
    disclosure.save("hours", body=HOURS.format(cashier="每日 8:30—17:30（节假日照常）"), note="收费窗口周日及节假日也开放。", base=1, actor=kefu,
                    now=now - timedelta(days=20))
    disclosure.save("heads", body="物业服务中心主任（项目经理）：陈立。对部门处理结果有异议的，可通过服务热线或服务中心前台要求复核。", note="各部门负责人。",
                    base=0, actor=admin, now=now - timedelta(days=100))


DECISION_COMMENTS = ("希望施工期间做好安全防护", "请公示维修资金使用明细", "同意，尽快施工", "外墙颜色请与原来保持一致", "施工时间避开午休")


def _seed_decisions(now, residents, kefu, buildings):
    """Owners' decisions counted as 民法典 art. 278 requires: one closed with its result published
    (2号楼, where 吴婷 lives), one open (1号楼, where 周杰 can still answer). The developer still
    holds 6号楼's empty flats."""
    from portal.models import ConsultationKind, Vote
    from portal.services import consultations

    lived_in = set(db.session.scalars(select(Residency.unit_id)))
    for unit in buildings[5].units:
        unit.is_unsold = unit.id not in lived_in

    def owners_in(building):
        return [(r, h.unit) for r in residents for h in r.residencies if h.is_owner and h.unit.building_id == building.id]

    facade = consultations.create(
        "是否同意使用专项维修资金维修2号楼外墙渗漏",
        "2号楼西侧外墙多处渗漏，经检测需整体维修，预算约38万元，拟使用2号楼专项维修资金。依据《民法典》第二百七十八条，使用维修资金属一般事项。",
        [], now - timedelta(days=3), [buildings[1]], kefu, now - timedelta(days=17), kind=ConsultationKind.ORDINARY,
    )
    votes = {o.vote: o.id for o in facade.options}
    for i, (resident, unit) in enumerate(owners_in(buildings[1])):
        if i % 15 == 14:
            continue  # a few never answered
        vote = Vote.AGREE if i % 10 < 7 else Vote.DISAGREE if i % 10 < 9 else Vote.ABSTAIN
        comment = DECISION_COMMENTS[i // 6] if i % 6 == 0 and i // 6 < len(DECISION_COMMENTS) else ""
        consultations.answer(facade, resident, unit, votes[vote], now - timedelta(days=10, hours=i), comment)
    consultations.publish_result(facade, kefu, now - timedelta(days=2))
    parking = consultations.create(
        "是否同意将1号楼北侧共有绿地改建为临时停车位",
        "拟将1号楼北侧约300平方米共有绿地改建为12个临时停车位，收益归全体业主。属改变共有部分用途（《民法典》第二百七十八条第一款第八项），为重大事项。",
        [], now + timedelta(days=10), [buildings[0]], kefu, now - timedelta(days=4), kind=ConsultationKind.MAJOR,
    )
    votes = {o.vote: o.id for o in parking.options}
    for i, (resident, unit) in enumerate(owners_in(buildings[0])[1:25]):  # 周杰 (the first) has not answered yet
        vote = (Vote.AGREE, Vote.AGREE, Vote.DISAGREE, Vote.AGREE, Vote.ABSTAIN)[i % 5]
        comment = "绿地本来就少，不建议改停车位" if i == 2 else "晚上停车太难，支持" if i == 3 else ""
        consultations.answer(parking, resident, unit, votes[vote], now - timedelta(days=3, hours=i), comment)


PARKING = [
    ("single", "您家目前有几辆机动车？", True, ["没有", "1辆", "2辆及以上"]),
    ("multiple", "您认为小区停车目前最突出的问题是？（可多选）", True, ["车位不足", "外来车辆占用车位", "消防通道被占用", "新能源充电桩不足", "临时停车收费不合理"]),
    ("scale", "您对目前小区停车秩序的满意程度", True, []),
    ("text", "您对停车管理还有哪些建议？", False, []),
]
COMMENTS = [
    "希望维修人员上门前先电话联系，约好时间。", "地下车库照明不足，晚上比较暗。", "保洁阿姨很负责，楼道一直很干净。",
    "夏天绿化带蚊虫多，希望定期消杀。", "报修后等了三天才有人来，希望加快响应。", "快递柜附近经常堆放纸箱垃圾。",
    "门岗对外来人员登记不够严格。", "希望物业费的使用情况每季度公示一次。", "客服态度很好，问题解决也及时。",
    "电梯检修希望提前一天在群里通知。", "儿童游乐设施有些老化，建议更换。", "垃圾分类投放点异味较大，希望多冲洗。",
]
# How the demo community rates each question of the satisfaction survey: weights of 5, 4, 3, 2, 1
RATINGS = [(38, 40, 15, 5, 2), (45, 35, 14, 4, 2), (25, 35, 24, 11, 5), (35, 40, 18, 5, 2), (48, 36, 12, 3, 1), (40, 38, 16, 4, 2)]


def _homes(resident):
    return tuple((r.unit.id, r.unit.building_id, r.is_owner) for r in resident.residencies)


def _seed_surveys(rng, now, residents, kefu, buildings):
    """A questionnaire open now (parking, one answer per household: 周杰 has two homes to answer
    for) and the half-yearly satisfaction survey of the last complete half year, closed, answered
    by about six households in ten: its result is on the figures page's default period."""
    from datetime import datetime

    from portal.i18n import from_local, to_local
    from portal.models import NotifyJob, QuestionKind
    from portal.services import figures, surveys

    opened = now - timedelta(days=3)
    parking = surveys.create("小区停车管理意见调查", "为改善小区停车秩序，物业拟调整地面车位划线和临时停车收费办法。请每户填写一份，约需2分钟。",
                             buildings, owners_only=False, per_household=True, opens_at=opened, closes_at=now + timedelta(days=7),
                             is_satisfaction=False, actor=kefu, now=opened)
    for kind, text, required, choices in PARKING:
        surveys.add_question(parking, kind, text, required, choices, False, opened)
    surveys.publish(parking, opened)
    for resident in residents[2:60]:
        raw = {}
        for q in parking.questions:
            if q.kind == QuestionKind.SINGLE:
                raw[q.id] = [str(rng.choices(q.choices, (2, 6, 2))[0].id)]
            elif q.kind == QuestionKind.MULTIPLE:
                raw[q.id] = [str(c.id) for c in rng.sample(q.choices, rng.randint(1, 3))]
            elif q.kind == QuestionKind.SCALE:
                raw[q.id] = [str(rng.choices((5, 4, 3, 2, 1), (15, 30, 30, 15, 10))[0])]
            elif rng.random() < .3:
                raw[q.id] = [rng.choice(["建议在东门外增设临时停车区。", "夜间外来车辆太多，希望门岗严格登记。", "希望增加充电桩，楼道充电太危险。"])]
        homes = _homes(resident)
        surveys.submit(parking, resident, homes[0][0], raw, homes, opened + timedelta(hours=rng.randint(1, 70)))
    _start, end = figures.half_year_before(to_local(now).date())
    opens = from_local(datetime.combine(end - timedelta(days=13), datetime.min.time())) + timedelta(hours=9)
    survey = surveys.satisfaction_template(kefu, opens, days=13)
    surveys.publish(survey, opens)
    scales = [q for q in survey.questions if q.kind == QuestionKind.SCALE]
    improve = next(q for q in survey.questions if q.kind == QuestionKind.MULTIPLE)
    comment = next(q for q in survey.questions if q.kind == QuestionKind.TEXT)
    for resident in residents[2:]:
        if rng.random() > .6:
            continue
        raw = {q.id: [str(rng.choices((5, 4, 3, 2, 1), RATINGS[i])[0])] for i, q in enumerate(scales)}
        if rng.random() < .7:
            raw[improve.id] = [str(c.id) for c in rng.sample(improve.choices, rng.randint(1, 2))]
        if rng.random() < .25:
            raw[comment.id] = [rng.choice(COMMENTS)]
        homes = _homes(resident)
        surveys.submit(survey, resident, homes[0][0], raw, homes, opens + timedelta(hours=rng.randint(1, 24 * 13)))
    survey.closing_told_at = survey.closes_at - timedelta(hours=20)
    # their invitations are the demo's history, as its other messages are
    for job in db.session.scalars(select(NotifyJob).where(NotifyJob.object_type == "survey")):
        job.done_at = now


def to_local_date(when):
    from portal.i18n import to_local

    return to_local(when).date()


def _past_months(today, days):
    """The first days of the months from `days` ago up to last month."""
    from datetime import date

    first = (today - timedelta(days=days)).replace(day=1)
    months = []
    while (first.year, first.month) < (today.year, today.month):
        months.append(first)
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return months


def _months_between(first, today):
    return (today.year - first.year) * 12 + today.month - first.month


def _second_saturday(first, hour):
    from datetime import datetime

    from portal.i18n import from_local

    day = first + timedelta(days=(5 - first.weekday()) % 7 + 7)
    return from_local(datetime(day.year, day.month, day.day, hour))


HISTORY = [  # per month, oldest first to last month: (tickets, of which late, ratings) — the service getting better
    (7, 3, (4, 2, 3)), (8, 3, (5, 2, 3, 4)), (9, 3, (5, 4, 2, 3, 4)), (10, 3, (4, 4, 2, 5, 3)), (11, 3, (5, 3, 4, 2, 4)), (10, 2, (4, 5, 4, 3)),
    (12, 3, (5, 4, 4, 2, 5)), (11, 2, (5, 4, 3, 5)), (12, 2, (4, 5, 5, 4, 3)), (13, 2, (5, 5, 4, 4, 2)),
    (12, 1, (5, 4, 5, 4)), (14, 2, (5, 5, 4, 4, 5)), (13, 1, (5, 4, 5, 5, 4)),
]


def _seed_history(rng, now, residents, staff, departments):
    """A year of answered tickets before the last few days: the figures' monthly trends have something to show."""
    from portal.i18n import to_local

    from datetime import datetime

    from portal.i18n import from_local

    this_month = to_local(now).date().replace(day=1)
    categories = [TicketCategory.REPAIR, TicketCategory.REPAIR, TicketCategory.INQUIRY, TicketCategory.COMPLAINT,
                  TicketCategory.REPAIR, TicketCategory.SUGGESTION, TicketCategory.INQUIRY, TicketCategory.PRAISE]
    for back, (count, late, ratings) in enumerate(reversed(HISTORY), start=1):
        first = _add_months(this_month, -back)
        for i in range(count):
            category = TicketCategory.REPAIR if i == 4 else categories[(i + back) % len(categories)]  # the month's emergency
            resident = residents[20 + (back * 13 + i) % 200]
            day = first + timedelta(days=1 + (i * 2) % 26)
            created = from_local(datetime(day.year, day.month, day.day, 9 + i % 5))
            ticket, _ = tickets.create(category=category, channel=TicketChannel.HOTLINE if i % 3 == 0 else TicketChannel.ONLINE,
                                       description=describe(rng, category, i), actor=resident, now=created, resident=resident,
                                       unit=resident.residencies[0].unit, is_urgent=i == 4)
            ticket.lead_department_id = departments[1 + (i + back) % (len(departments) - 1)].id
            ticket.assigned_at = created + timedelta(minutes=20)
            if ticket.is_urgent:
                ticket.acknowledged_at = created + timedelta(minutes=12 if back % 4 else 45)  # every fourth month answered late
            answered = min(ticket.due_at + timedelta(hours=6) if i < late else created + timedelta(hours=3), now - timedelta(hours=5))
            ticket.resolved_at, ticket.result = answered - timedelta(hours=1), "已处理完毕。"
            ticket.feedback_at, ticket.feedback_method = answered, "phone"
            if i < len(ratings):
                ticket.rating, ticket.rated_at = ratings[i], answered + timedelta(hours=4)
                ticket.status, ticket.closed_at = TicketStatus.CLOSED, ticket.rated_at
            else:
                ticket.status = TicketStatus.FEEDBACK_GIVEN
    # what the staff were told about those at the time was read long ago
    db.session.execute(update(Notification).where(Notification.created_at < now - timedelta(days=20)).values(read_at=now))


def _seed_routine(now, staff, dept):
    """What the policy repeats: the weekly coordination meeting (S4.1.2) filed every Monday but two,
    and the year's training plan (S6.2) with what was held, one item missed and one person absent."""
    from datetime import datetime

    from portal.i18n import from_local, to_local
    from portal.services import records, training

    admin, kefu, kefu2, gongcheng = staff[0], staff[1], staff[2], staff[3]
    today = to_local(now).date()
    monday = today - timedelta(days=today.weekday())
    for weeks_back in range(PORTAL_DAYS // 7 + 1):
        if weeks_back in (3, 20):
            continue  # two weeks the meeting was not recorded
        day = monday - timedelta(weeks=weeks_back)
        at = from_local(datetime(day.year, day.month, day.day, 9, 30))
        if at > now:
            continue
        records.add("coordination", at, "各部门汇报上周工作：报修处理进度、投诉回访情况、下周社区活动安排；协调电梯维保与停水通知发布。",
                    kefu, at, place="物业服务中心二楼会议室", participants="陈立、王敏、张强、刘洋", result="本周重点：跟进超时工单，完成消防通道清理。")

    plan = [  # (months back, content, topic, method, department, people, held on (days into the month, or None), attended)
        (9, "电话接听与倾听技巧", TrainingTopic.COMMUNICATION, TrainingMethod.INTERNAL, dept["客服中心"], [], 12, None),
        (7, "投诉处理流程与书面答复", TrainingTopic.PROBLEM_HANDLING, TrainingMethod.CASE_STUDY, None, [kefu, kefu2, gongcheng], 20,
         [kefu, gongcheng]),
        (5, "小区设施设备与维修标准", TrainingTopic.BUSINESS, TrainingMethod.COACHING, dept["工程维修部"], [], 40, None),
        (3, "服务意识：以业主为中心", TrainingTopic.SERVICE, TrainingMethod.INTERNAL, dept["秩序维护部"], [], None, None),
        (1, "紧急情况处置与应急沟通", TrainingTopic.PROBLEM_HANDLING, TrainingMethod.INTERNAL, dept["秩序维护部"], [kefu], 18, None),
        (0, "物业收费政策与解答口径", TrainingTopic.BUSINESS, TrainingMethod.EXTERNAL, dept["财务部"], [kefu, kefu2], None, None),
        (-2, "新员工沟通礼仪", TrainingTopic.COMMUNICATION, TrainingMethod.COACHING, dept["客服中心"], [], None, None),
    ]
    for back, title, topic, method, department, people, held, attended in plan:
        first = _add_months(today.replace(day=1), -back)
        item = training.save_item(None, year=first.year, month=first.month, title=title, topic=topic, method=method, goal="",
                                  department_id=department.id if department else None, people=people, actor=admin)
        if held is None:
            continue
        held_on = first + timedelta(days=held)
        if held_on > today:
            continue
        expected = training.review([item], today)[0].expected
        session = TrainingSession(title=title, topic=topic, method=method, held_on=held_on, trainer="王敏" if held < 30 else "外部讲师",
                                  plan_item_id=item.id)
        session.attendees = [TrainingAttendance(user_id=p.id, score=80 + (p.id * 7) % 20) for p in (attended or expected)]
        db.session.add(session)


def _add_months(first, n):
    """The first day of the month `n` months after (or before) the month starting `first`."""
    from datetime import date

    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)
