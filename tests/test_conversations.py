"""The conversation suite (tests/conversations/): every conversation through Rasa's REST
channel and through the desk's shopper API, with the real trained bot, each turn checked
against the catalog database. A conversation fails the test unless it is listed in
tests/conversations/known_failures.yml; a listed one that passes fails too, so that the
list and the README's figure stay true. Needs the model (`make train`)."""

from __future__ import annotations

import pytest

from tests.conversations.runner import (CHANNELS, DeskChannel, Oracle, RestChannel,
                                        load_conversations, load_known_failures, run_all,
                                        stack, summary)

pytestmark = pytest.mark.e2e

CONVERSATIONS = load_conversations()
KNOWN = load_known_failures()


@pytest.fixture(scope="module")
def results(demo_db, tmp_path_factory):
    oracle = Oracle(demo_db)
    oracle.check_warehouses()
    with stack(demo_db, tmp_path_factory.mktemp("conversations")) as (rasa_url, desk_url):
        out = run_all([RestChannel(rasa_url), DeskChannel(desk_url)], CONVERSATIONS, oracle)
    for channel, (ok, n) in summary(out).items():
        print(f"\n{channel}: {ok}/{n} conversations with every turn right")
    return out


def test_the_suite_is_big_enough_in_both_languages():
    langs = [c.lang for c in CONVERSATIONS]
    assert len(CONVERSATIONS) >= 120
    assert langs.count("zh") >= 55 and langs.count("en") >= 55
    assert all(conv in {c.id for c in CONVERSATIONS} for conv, _ in KNOWN)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("conversation", [c.id for c in CONVERSATIONS])
def test_conversation(results, conversation, channel):
    result = results[(conversation, channel)]
    reason = KNOWN.get((conversation, channel))
    if reason is None:
        assert result.ok, result.report()
    else:
        assert not result.ok, (f"{conversation} now passes through {channel}: remove it from"
                               f" known_failures.yml (listed because: {reason})")
        pytest.xfail(reason)
