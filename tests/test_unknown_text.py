"""Not understood is said (bot/nlu/unknown_text.py): keyboard mash, unknown words,
punctuation alone and a held-down key reach `nlu_fallback`, short real messages do not.
The gate's rules on hand-made vocabularies, its Rasa round trip (train, persist, load,
parse) on a small model, and the deployed model on tests/not_understood.yml (written for
this, not taken from the conversation suite)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.nlu.unknown_text import (Vocabulary, held_key, is_known, is_word, known_share,
                                  not_understood, vocabulary_of)

ROOT = Path(__file__).resolve().parent.parent
LISTS = yaml.safe_load((ROOT / "tests" / "not_understood.yml").read_text(encoding="utf-8"))
VOCABULARY = Vocabulary({"is", "the", "blue", "one", "in", "stock", "还", "有货", "吗", "👍",
                         "ok", "有", "货", "alone:👍", "🙃", "hello", "thanks", "okay"})


def test_the_vocabulary_holds_words_and_chinese_characters():
    assert vocabulary_of([["Is", "it", "?"], ["防腐剂", "吗", "42"]]) == \
        {"is", "it", "防腐剂", "防", "腐", "剂", "吗"}
    # emoji alone as a message are known alone; inside a sentence they are just words
    assert vocabulary_of([["👍"], ["late", "🙃"]]) == {"👍", "alone:👍", "late", "🙃"}
    assert isinstance(vocabulary_of([]), Vocabulary)


@pytest.mark.parametrize("word,expected", [
    ("stock", True), ("stocks", True), ("stcoks", False), ("有货", True), ("货有", True),
    ("还有货", True), ("有鸭", False), ("qwerty", False),
    # one typo from a known word of four letters or more
    ("hellow", True), ("hllo", True), ("helo", True), ("thnaks", True), ("okey", True),
    ("stcok", True), ("hellooo", False), ("okie", False), ("blu", False), ("ok", True),
    ("oj", False),
])
def test_a_chinese_word_is_known_by_its_characters(word, expected):
    assert is_known(word, VOCABULARY) is expected


@pytest.mark.parametrize("token,expected", [
    ("stock", True), ("有货", True), ("👍", True), ("XL", True), ("¥", True),
    ("42", False), ("。。。", False), ("?", False), ("...", False), ("-", False),
    ("~~", False), ("+", False),
])
def test_what_counts_as_a_word(token, expected):
    assert is_word(token) is expected


def test_known_share_counts_words_only():
    # 3 words of 4 known (the ? and 42 are not words)
    assert known_share(["is", "the", "blue", "qwerty", "?", "42"], VOCABULARY) == 0.75
    assert known_share(["IS", "Stock"], VOCABULARY) == 1.0      # lower case
    assert known_share(["qwerty", "uiop"], VOCABULARY) == 0.0
    assert known_share(["。", "。", "。"], VOCABULARY) is None
    assert known_share([], VOCABULARY) is None


@pytest.mark.parametrize("text,expected", [
    ("啊啊啊啊", True), ("额额额额额!", True), ("hhhhh", True), ("H h h h", True),
    ("嗯嗯嗯嗯嗯", True), ("哈哈哈哈", True),
    ("嗯嗯嗯", False), ("对对对", False), ("谢谢谢谢", False), ("拜拜拜拜", False),
    ("好好好好", False), ("在吗在吗在吗", False),
    ("4444", False), ("", False),
])
def test_held_key(text, expected):
    assert held_key(text, 4) is expected


@pytest.mark.parametrize("tokens,text,entity,expected", [
    (["qwerty", "uiop"], "qwerty uiop", False, True),          # no known word
    (["。", "。", "。"], "。。。", False, True),                  # no word at all
    (["啊啊"], "啊啊啊啊", False, True),                          # held key
    (["还有货", "吗"], "还有货吗", False, False),                   # known characters
    (["ok"], "okkkkk", False, False),                           # not one letter
    (["42"], "42", True, False),                                # a catalog size
    (["20261118000123"], "20261118000123", True, False),        # an order id
    (["12345"], "12345", False, True),                          # a number, nothing else
    (["is", "the", "blue", "one", "in", "stock"], "is the blue one in stock", False, False),
    (["is", "the", "bleu", "one", "in", "stcok"], "is the bleu one in stcok", False, False),
    (["hellow"], "hellow", False, False),                      # one typo from hello
    (["xyzzy", "plugh", "stock"], "xyzzy plugh stock", False, True),   # 1 of 3 known
    (["👍"], "👍", False, False), (["🦄"], "🦄", False, True),
    (["🙃", "🙃"], "🙃🙃", False, True),      # seen only inside sentences
    (["stock", "🙃"], "stock 🙃", False, False),  # in a sentence an emoji is a word
    (["~~"], "~~~", False, True),
])
def test_not_understood(tokens, text, entity, expected):
    assert not_understood(tokens, text, entity, VOCABULARY, 0.5, 4) is expected


def test_a_catalog_name_is_never_gated_even_held():
    assert not not_understood(["xxxxl"], "XXXXL", True, VOCABULARY, 0.5, 4)


async def test_rasa_round_trip(small_nlu_agent):
    """A model with the gate before the FallbackClassifier, trained, persisted and loaded
    (tests/nlu_support.py): messages of known words keep their intent, unknown words,
    punctuation alone and a held key become nlu_fallback (with the classifier's guess
    still in the ranking), a catalog size alone keeps its intent, and the vocabulary was
    saved with the model."""
    agent = small_nlu_agent

    async def parse(text):
        return await agent.parse_message(text)

    for text, intent in [("is it in stock", "check_stock"), ("谢谢", "thank"),
                         ("thank you!", "thank"), ("42", "inform")]:
        parsed = await parse(text)
        assert parsed["intent"]["name"] == intent, (text, parsed["intent_ranking"])
    for text in ["qwerty uiop", "jkl jkl", "。。。", "???", "啊啊啊啊", "🦄"]:
        parsed = await parse(text)
        assert parsed["intent"]["name"] == "nlu_fallback", (text, parsed["intent_ranking"])
        assert parsed["text"] == text
    # the classifier's guess is kept after the fallback, for the record
    parsed = await parse("qwerty uiop")
    assert parsed["known_share"] == 0.0
    assert [r["name"] for r in parsed["intent_ranking"]][0] == "nlu_fallback"
    assert len(parsed["intent_ranking"]) > 1


def deployed_model() -> Path:
    model = ROOT / "models" / "shopassist.tar.gz"
    if not model.exists():
        pytest.skip("no trained model: `make train` first (make test does)")
    return model


@pytest.fixture(scope="module")
def agent():
    import asyncio

    from rasa.core.agent import Agent

    loop = asyncio.new_event_loop()
    yield Agent.load(str(deployed_model())), loop
    loop.close()


def parsed_intents(agent, texts):
    model, loop = agent
    return {t: loop.run_until_complete(model.parse_message(t))["intent"]["name"]
            for t in texts}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_deployed_model_says_it_did_not_understand(agent, lang):
    intents = parsed_intents(agent, LISTS["not_understood"][lang])
    assert {t: i for t, i in intents.items() if i != "nlu_fallback"} == {}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_deployed_model_still_reads_short_real_messages(agent, lang):
    intents = parsed_intents(agent, LISTS["understood"][lang])
    assert {t: i for t, i in intents.items() if i in ("nlu_fallback", None)} == {}
