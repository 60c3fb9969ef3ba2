"""What the desk lets in and what it says about itself, in one place.

- **Strict JSON** (`loads`): request bodies and WebSocket frames are JSON as RFC 8259
  writes it: no `NaN`, `Infinity` or numbers too large for a double (`1e400`), integers
  within a signed 64-bit range, strings without control characters (other than tab, line
  feed and carriage return) or lone surrogates, keys included. Anything else is a
  `DeskError` (400), never a 500 further in. `peer_loads` reads what Rasa answers: its
  non-finite numbers become null rather than failing the shopper's answer.
- **Responses** (`dumps`): JSON without `NaN`/`Infinity` (a non-finite number that got
  into the record before these checks is sent as null), so a browser's `JSON.parse`
  never fails on the desk's answers.
- **URLs** (`check_url`): a path or query with a control character (`/static/%00`) is
  refused with 400.
- **Headers** (`security_headers`): every response, including errors and WebSocket
  handshakes: `X-Content-Type-Options: nosniff`, `Referrer-Policy`, framing refused
  (`frame-ancestors 'none'` and `X-Frame-Options: DENY`: the console cannot be framed),
  a Content-Security-Policy for what the response is (the console, the demo storefront,
  any other page or JSON), and a `Server` header without versions. `/widget.js` is
  embedded by shops on their own origins: it gets CORS (and no CSP of ours, which would
  not apply to a script anyway).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import DeskError

INT_LIMIT = 2 ** 63                  # ids and counts: -2^63 <= n < 2^63 (SQLite INTEGER)
# C0 controls but tab, LF and CR; DEL; C1 controls
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
SERVER = "shopassist-desk"


# -- JSON in -------------------------------------------------------------------------------
def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:30]}")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise ValueError("integer out of range (at most 2^63 - 1)")
    return value


def check_text(value: str, what: str = "text") -> str:
    """`value` when it has no control character (tab, LF, CR allowed) and no lone
    surrogate; DeskError (400) else."""
    if CONTROL.search(value):
        raise DeskError(f"{what} must not contain control characters")
    if SURROGATE.search(value):
        raise DeskError(f"{what} must be valid Unicode (no lone surrogates)")
    return value


def check_value(data: Any) -> Any:
    """Every string (keys too) of a parsed JSON value checked with `check_text`; the
    value itself returned. Iterative, so depth costs no recursion."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_text(item, "strings")
        elif isinstance(item, dict):
            for k, v in item.items():
                check_text(k, "keys")
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return data


def loads(raw: bytes | str) -> Any:
    """Strict JSON (see the module docstring); DeskError (400) for anything else."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError:
        raise DeskError("body must be UTF-8 JSON") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                          parse_int=_bounded_int)
    except RecursionError:
        raise DeskError("JSON nested too deeply") from None
    except ValueError as exc:
        reason = str(exc)
        if "range" in reason or "not a JSON number" in reason:
            raise DeskError(f"malformed JSON: {reason}") from None
        raise DeskError("malformed JSON") from None
    return check_value(data)


def peer_loads(raw: bytes | str) -> Any:
    """JSON from a service the desk calls (Rasa): non-finite numbers become None."""
    return json.loads(raw, parse_constant=lambda _: None,
                      parse_float=lambda t: v if math.isfinite(v := float(t)) else None)


# -- JSON out ------------------------------------------------------------------------------
def _finite_only(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite_only(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite_only(v) for v in data]
    return data


def dumps(data: Any) -> str:
    """JSON a browser parses: never NaN or Infinity."""
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite_only(data), ensure_ascii=False, allow_nan=False)


# -- fields and URLs -----------------------------------------------------------------------
def int_field(value: Any, name: str, *, minimum: int = 1) -> int:
    """A JSON integer id (not a bool) within minimum..2^63-1; DeskError (400) else."""
    if not isinstance(value, int) or isinstance(value, bool) \
            or not minimum <= value < INT_LIMIT:
        raise DeskError(f"{name!r} must be an integer from {minimum} to 2^63 - 1")
    return value


def int_param(text: str, name: str, *, minimum: int = 0) -> int:
    """A decimal id from a URL (path or query); DeskError (400) else."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise DeskError(f"{name!r} must be a number")
    value = int(text)
    if not minimum <= value < INT_LIMIT:
        raise DeskError(f"{name!r} must be a number from {minimum} to 2^63 - 1")
    return value


def check_url(path: str, query_string: str) -> None:
    """DeskError (400) when the decoded path or query has a control character."""
    from urllib.parse import unquote

    if CONTROL.search(path) or CONTROL.search(unquote(query_string)):
        raise DeskError("control characters in the URL")


# -- headers -------------------------------------------------------------------------------
_BASE_CSP = ("default-src 'none'; base-uri 'none'; form-action 'self'; "
             "frame-ancestors 'none'")
# the agent console: its own script, style and socket only
CONSOLE_CSP = (f"{_BASE_CSP}; script-src 'self'; style-src 'self'; connect-src 'self'; "
               "img-src 'self' data:; font-src 'self'")
# the demo storefront: its stylesheet, the widget script, which injects its own <style>
# and sets a few style attributes, and talks to the desk (HTTP and WebSocket)
STOREFRONT_CSP = (f"{_BASE_CSP}; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                  "connect-src 'self'; img-src 'self' data:")
# everything else (JSON, error pages, files): nothing to run, nothing to load
NOTHING_CSP = _BASE_CSP

_STOREFRONT_PATHS = re.compile(r"^/(?:p/[^/]*)?$")


def page_kind(path: str) -> str:
    """"console", "storefront", "widget" or "other" for a request path."""
    if path in ("/console", "/static/console.html"):
        return "console"
    if _STOREFRONT_PATHS.match(path):
        return "storefront"
    if path == "/widget.js":
        return "widget"
    return "other"


def security_headers(path: str, headers) -> None:
    """Set the headers every response carries (see the module docstring) on `headers`,
    a response's mutable header map."""
    headers["Server"] = SERVER
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    kind = page_kind(path)
    if kind == "widget":
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return
    headers["X-Frame-Options"] = "DENY"
    if kind == "console":
        headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Content-Security-Policy", {
        "console": CONSOLE_CSP, "storefront": STOREFRONT_CSP}.get(kind, NOTHING_CSP))
