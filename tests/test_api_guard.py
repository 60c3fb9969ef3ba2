"""The rules in front of Rasa (bot/api_guard.py) and the installation's API token
(bot/api_token.py), without starting a server: what a REST-channel body must look like,
401 vs 403, the token file's permissions and that every process gets the same token."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import replace

import pytest

from bot.api_guard import (MAX_BODY_BYTES, MAX_DEPTH, MAX_MESSAGE_CHARS, MAX_SENDER_CHARS,
                           Rejected, parse_rest_body, token_rejection)
from bot.api_token import _token_from_file, rasa_api_token
from bot.settings import ROOT, get_settings


def body(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


def nested_metadata(levels: int) -> bytes:
    """metadata nested `levels` objects deep: the body's deepest object is at depth
    levels + 1 (the body itself is depth 1)."""
    meta: dict = {}
    inner = meta
    for _ in range(levels - 1):
        inner["a"] = {}
        inner = inner["a"]
    return body(sender="s", message="hi", metadata=meta)


def test_a_message_from_the_desk_passes_as_it_is():
    raw = body(sender="c-42", message="疾风跑鞋黑色42码有货吗",
               metadata={"page": {"product_id": "P001"}, "locale": "zh",
                         "cart": [{"sku": "P001-BK-42", "qty": 1}]})
    assert parse_rest_body(raw) == json.loads(raw)


def test_an_empty_message_is_allowed():
    assert parse_rest_body(body(sender="s", message=""))["message"] == ""


@pytest.mark.parametrize("raw, status", [
    (b"", 400), (b"   \n", 400),
    (b"\xff\xfe\x00{", 400),                                # not UTF-8
    ("疾风".encode("gbk"), 400),                             # GBK, not UTF-8
    (b"{\"sender\": \"s\", \"message\": ", 400),              # truncated JSON
    (b"sender=s&message=hi", 400),                          # a form, not JSON
    (b"[]", 400), (b"[{\"sender\": \"s\", \"message\": \"hi\"}]", 400),
    (b"\"hi\"", 400), (b"42", 400), (b"null", 400), (b"true", 400),
    (b"{\"sender\": \"s\", \"message\": NaN}", 400),
    (b"{\"sender\": \"s\", \"message\": \"x\", \"metadata\": {\"n\": Infinity}}", 400),
    (b"{\"sender\": \"s\", \"message\": \"x\", \"metadata\": {\"n\": -Infinity}}", 400),
    (b"[" * 100_000 + b"]" * 100_000, 413),                # larger than the limit
    (b"[" * 50_000 + b"]" * 50_000, 400),                  # deeper than Python's stack
    (b"{\"sender\": \"s\", \"message\": \"\\ud800\"}", 400),  # unpaired surrogate
    (body(message="hi"), 400), (body(sender="", message="hi"), 400),
    (body(sender=7, message="hi"), 400), (body(sender=["s"], message="hi"), 400),
    (body(sender=None, message="hi"), 400),
    (body(sender="s"), 400), (body(sender="s", message=None), 400),
    (body(sender="s", message=5), 400), (body(sender="s", message={"text": "hi"}), 400),
    (body(sender="s", message="hi", metadata=[]), 400),
    (body(sender="s", message="hi", metadata="page=P001"), 400),
    (body(sender="s", message="hi", input_channel=3), 400),
    (body(sender="s" * 256, message="hi"), 400),
    (body(sender="s", message="啊" * 5001), 400),
    (body(sender="s", message="x" * (128 * 1024)), 413),
])
def test_bad_bodies_are_refused_with_a_status(raw, status):
    with pytest.raises(Rejected) as err:
        parse_rest_body(raw)
    assert err.value.status == status
    assert err.value.body()["error"]


def test_limits_are_inclusive():
    # hand-written limits: 255 characters of sender (Rasa's SQL column), 5000 of message
    # (the desk's), 16 levels of nesting, 128 KiB of body
    assert (MAX_SENDER_CHARS, MAX_MESSAGE_CHARS, MAX_DEPTH, MAX_BODY_BYTES) == \
        (255, 5000, 16, 131072)
    assert parse_rest_body(body(sender="客" * 255, message="啊" * 5000))
    assert parse_rest_body(nested_metadata(15))
    with pytest.raises(Rejected):
        parse_rest_body(nested_metadata(16))
    padded = body(sender="s", message="hi", metadata={"pad": ""})
    exact = padded.replace(b'"pad": ""', b'"pad": "' + b"x" * (131072 - len(padded)) + b'"')
    assert len(exact) == 131072 and parse_rest_body(exact)
    with pytest.raises(Rejected):
        parse_rest_body(exact[:-2] + b'x"}')


def test_null_metadata_counts_as_none():
    assert parse_rest_body(body(sender="s", message="hi", metadata=None))["metadata"] is None


def test_token_rejection():
    assert token_rejection("right-token-123456", "right-token-123456") is None
    assert token_rejection(None, "right-token-123456").status == 401
    assert token_rejection("", "right-token-123456").status == 401
    assert token_rejection("right-token-12345", "right-token-123456").status == 403
    assert token_rejection("\udcff", "right-token-123456").status == 403


def test_the_token_file_is_created_once_and_owner_only(tmp_path):
    path = tmp_path / "var" / "token"
    settings = replace(get_settings(), rasa_token=None, rasa_token_file=path)
    token = rasa_api_token(settings)
    assert path.exists() and len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token
    _token_from_file.cache_clear()
    assert rasa_api_token(settings) == token           # read back, not made anew


def test_a_loosened_token_file_is_tightened(tmp_path):
    path = tmp_path / "token"
    path.write_text("a-token-somebody-wrote-1234\n")
    path.chmod(0o644)
    settings = replace(get_settings(), rasa_token=None, rasa_token_file=path)
    assert rasa_api_token(settings) == "a-token-somebody-wrote-1234"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_environment_wins(tmp_path):
    settings = replace(get_settings(), rasa_token="from-the-environment-1234",
                       rasa_token_file=tmp_path / "never")
    assert rasa_api_token(settings) == "from-the-environment-1234"
    assert not (tmp_path / "never").exists()


def test_processes_starting_together_share_one_token(tmp_path):
    """The runner, the Rasa servers and the desk start at the same moment: all of them
    must end up with the token that is in the file."""
    path = tmp_path / "shared_token"
    code = ("from bot.api_token import rasa_api_token; print(rasa_api_token())")
    env = {**os.environ, "SHOPASSIST_RASA_TOKEN_FILE": str(path)}
    env.pop("SHOPASSIST_RASA_TOKEN", None)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    tokens = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert tokens == {path.read_text().strip()}
    assert list(tmp_path.iterdir()) == [path]          # no temporary file left


@pytest.mark.parametrize("token", ["-starts-with-a-dash_0123456789", "plain_0123456789abcdef"])
def test_the_token_reaches_rasa_run_and_not_its_command_line(token):
    """Rasa's own parser must read the token the Rasa servers add in-process, also one
    that starts with '-' (token_urlsafe makes those)."""
    from rasa.__main__ import create_argument_parser

    from bot.rasa_server import with_auth_token

    argv = ["rasa", "run", "--enable-api", "--port", "5005", "--cors", "https://a.example"]
    new, used = with_auth_token(argv, lambda: token)
    assert used == token and argv == ["rasa", "run", "--enable-api", "--port", "5005",
                                      "--cors", "https://a.example"]
    args = create_argument_parser().parse_args(new[1:])
    assert args.auth_token == token and args.cors == ["https://a.example"]
    # a token given on the command line is kept, and is the one the guard uses
    given = ["rasa", "run", "--auth-token", "given-token-0123456789"]
    assert with_auth_token(given, lambda: token) == (given, "given-token-0123456789")
