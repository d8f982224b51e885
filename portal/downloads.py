"""Files leave the portal as downloads: attachments, photos, PDFs."""
from urllib.parse import quote

from flask import make_response


def download(data, mime, filename, inline=False):
    """A response that browsers save (or, for PDFs asked inline, show) but never run."""
    response = make_response(data)
    response.headers["Content-Type"] = mime
    ascii_name = filename.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "") or "file"
    kind = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
