"""Files leave the portal as downloads: attachments, photos, PDFs, CSV exports."""
import csv
import io
from contextlib import closing
from urllib.parse import quote

from flask import Response, make_response, stream_with_context

from portal.extensions import db


def download(data, mime, filename, inline=False):
    """A response that browsers save (or, for PDFs asked inline, show) but never run."""
    response = make_response(data)
    response.headers["Content-Type"] = mime
    ascii_name = filename.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "") or "file"
    kind = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def spreadsheet_safe(text):
    """Free text for a CSV cell that a spreadsheet shows as typed, never runs as a formula."""
    text = text or ""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def csv_download(filename, header, query, row):
    """`query`'s rows as CSV, streamed 500 at a time (UTF-8 with a BOM: Excel opens it); `row(obj)`
    gives one line. The database cursor is closed even if the browser goes away mid-download.
    The query runs once the response has begun (after the request's unit of work has ended), so
    the view checks everything it is built from first (portal/inputs.py): nothing in it can fail."""

    def lines():
        buf = io.StringIO()
        writer = csv.writer(buf)
        buf.write("\ufeff")
        writer.writerow(header)
        with closing(db.session.scalars(query.execution_options(yield_per=500))) as result:
            for obj in result:
                writer.writerow(row(obj))
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return response
