"""A stand-in for Chromium: answers /json/list on the DevTools port, or hangs, or exits.

    fake_browser.py MODE --remote-debugging-port=N ... URL
MODE: serve | hang | exit. It writes its argv to $FAKE_BROWSER_LOG, one JSON line per start.
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

mode = sys.argv[1]
args = sys.argv[2:]
with open(os.environ["FAKE_BROWSER_LOG"], "a", encoding="utf-8") as f:
    f.write(json.dumps(args) + "\n")
port = int(next(a.split("=", 1)[1] for a in args if a.startswith("--remote-debugging-port=")))
if mode == "exit":
    sys.exit(3)
if mode == "hang":
    time.sleep(3600)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps([{"type": "page", "url": args[-1]}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
