"""The yardstick: a bare Flask hello world, served exactly like the portal."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!"
