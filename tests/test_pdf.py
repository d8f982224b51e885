"""Posters: Chinese text in a real CJK font, and nothing fetched but the portal's static files."""
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from weasyprint import HTML

from portal.models import Role
from portal.pdf import StaticOnlyFetcher

needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils (pdftotext) not installed")


def pdf_text(data, tmp_path):
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdf_fonts(data, tmp_path):
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def trap_server():
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


@needs_poppler
def test_poster_has_title_body_date_contact_and_hotline_in_a_cjk_font(client, make_user, make_notice, tmp_path):
    notice = make_notice(title="关于二次供水水箱清洗的停水通知", body="周六九点至十五点停水，请提前储水。")
    client.login(make_user())
    response = client.get(f"/notices/{notice.id}/poster.pdf")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    text = pdf_text(response.data, tmp_path)
    for expected in ("关于二次供水水箱清洗的停水通知", "周六九点至十五点停水", "400-800-1234", "客服中心 王敏", "服务热线"):
        assert expected in text.replace(" ", "") or expected in text, expected
    assert "CJK" in pdf_fonts(response.data, tmp_path)


def test_pdf_rendering_fetches_nothing_outside_the_static_folder(app, trap_server, tmp_path):
    url, hits = trap_server
    html = (
        f'<img src="file:///etc/passwd"><img src="{url}/pixel.png">'
        f'<link rel="stylesheet" href="{url}/x.css"><p>正文</p>'
    )
    fetcher = StaticOnlyFetcher(app.static_folder)
    HTML(string=html, base_url=f"file://{app.static_folder}/", url_fetcher=fetcher).write_pdf()
    assert hits == []
    assert "file:///etc/passwd" in fetcher.refused and f"{url}/pixel.png" in fetcher.refused


def test_static_files_can_still_be_used(app):
    fetcher = StaticOnlyFetcher(app.static_folder)
    response = fetcher.fetch(f"file://{app.static_folder}/css/portal.css")
    assert response.status == 200
    with pytest.raises(ValueError):
        fetcher.fetch(f"file://{app.static_folder}/../__init__.py")


def test_a_notice_body_that_references_local_files_or_urls_yields_a_pdf_with_nothing_fetched(client, make_user, make_notice, trap_server):
    url, hits = trap_server
    staff = make_user(role=Role.STAFF)
    client.login(staff)
    body = f'![x](file:///etc/passwd) <img src="{url}/a.png"> <link rel=stylesheet href="{url}/b.css"> [link]({url}/c)'
    client.post(
        "/notices/new",
        {"title": "测试", "body": body, "category": "news", "community_wide": "y", "action": "publish"},
    )
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Notice

    notice = db.session.scalar(select(Notice))
    assert "<img" not in notice.body_html and "<link" not in notice.body_html
    response = client.get(f"/notices/{notice.id}/poster.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert hits == []
