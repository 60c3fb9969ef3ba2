"""What a good shop assistant reads past before understanding a message, as a Rasa NLU
component that runs first in the pipeline.

The intent features are computed on `normalize(text)`:

- traditional Chinese characters become simplified ones (OpenCC's `t2s` tables,
  `opencc-python-reimplemented`, offline), so 請問有貨嗎 reads as 请问有货吗;
- full-width Latin letters, digits and punctuation become ASCII (Unicode NFKC): ＸＬ → XL;
- @handles, links (also pasted order and product links), e-mail addresses become the
  placeholders `HANDLE`, `LINK`, `EMAIL`: they say nothing about what is asked;
- a letter or punctuation mark repeated three or more times is cut to two (sooooo → soo,
  ？？？ → ??, 啊啊啊啊 → 啊啊); digits are left alone (order ids, prices);
- with `drop_pleasantries` (config.yml), a greeting at the start (hi, hello there, 亲 在吗,
  您好 打扰一下) and thanks at the end (thanks!, 谢谢亲) are dropped when a request is left:
  "hi, is the blue one in stock? thanks" is read as "is the blue one in stock?";
- with `chat_speak` (config.yml), common English chat-speak and typos become words
  (u → you, pls → please, rn → right now; not a bare "wat", which says "huh?") and Taobao
  colloquial Chinese its plain form (木有 → 没有, 咋 → 怎么, 神马 → 什么).

The shopper's own text is kept on the message under `ORIGINAL_TEXT`, and the catalog
matcher (bot/nlu/catalog_entities.py) reads that, through `to_simplified`, which converts
character for character: entity spans keep pointing at the shopper's own characters, even
in traditional ones (疾風跑鞋 is the product 疾风跑鞋, at the same offsets).
`ShopperTextRestorer`, last in the pipeline, puts the shopper's text back as TEXT, so the
parse result's `text` is what was typed and its entity spans point into it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# the shopper's text as typed, kept beside the normalised TEXT
ORIGINAL_TEXT = "shopper_text"

PLACEHOLDERS = {"handle": "HANDLE", "link": "LINK", "email": "EMAIL"}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# scheme or www. links, and bare domain links with a path (shop.example.com/orders/123)
_LINK = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/\S*", re.I)
# @AmazonHelp, @客服小美 (a handle is an @ at a word start, then word characters)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
# a letter (any script) or a punctuation mark three or more times in a row
_REPEAT = re.compile(r"([^\W\d_]|[!?.,~。！？，、～…])\1{2,}")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# English chat-speak and frequent typos, whole words only (lower case)
CHAT_SPEAK_EN = {
    "u": "you", "ur": "your", "r": "are", "ya": "you", "yu": "you", "pls": "please",
    "plz": "please", "plsss": "please", "thx": "thanks", "thnx": "thanks", "tnx": "thanks",
    "ty": "thank you", "tysm": "thank you so much",
    "whats": "what is", "wheres": "where is", "hows": "how is",
    "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "cant": "can't",
    "wont": "won't", "isnt": "isn't", "im": "i'm", "ive": "i've", "idk": "i don't know",
    "rn": "right now", "tmr": "tomorrow", "tmrw": "tomorrow", "tmw": "tomorrow",
    "2day": "today", "2moro": "tomorrow", "b4": "before", "cuz": "because",
    "coz": "because", "bc": "because", "ppl": "people", "msg": "message", "abt": "about",
    "wanna": "want to", "gonna": "going to", "gotta": "got to", "lemme": "let me",
    "gimme": "give me", "kinda": "kind of", "dunno": "don't know", "ok": "okay",
    "k": "okay", "kk": "okay", "okey": "okay", "oky": "okay", "hv": "have", "hav": "have",
    "shld": "should", "cud": "could", "wud": "would", "prob": "probably",
    "pkg": "package", "pckg": "package", "parcle": "parcel", "recieve": "receive",
    "recieved": "received", "adress": "address", "addres": "address", "delivary": "delivery",
    "dilivery": "delivery", "deliverd": "delivered", "shiping": "shipping",
    "refnd": "refund", "reciept": "receipt", "avaliable": "available",
    "availible": "available", "stil": "still", "bday": "birthday",
    "asap": "as soon as possible", "nvm": "never mind", "smth": "something",
    "sth": "something", "rly": "really", "srsly": "seriously",
    "tbh": "to be honest", "omw": "on my way", "wtf": "what the", "btw": "by the way",
}
_EN_WORD = re.compile(r"[A-Za-z0-9']+")
# Taobao/JD colloquial Chinese and its plain form, anywhere in the text (only forms that
# are not also ordinary words: 童鞋 is children's shoes, 手表 a watch, 稀饭 porridge)
CHAT_SPEAK_ZH = {
    "木有": "没有", "米有": "没有", "咋": "怎么", "肿么": "怎么", "神马": "什么",
    "啥": "什么", "亲亲": "亲", "灰常": "非常", "酱紫": "这样子", "介个": "这个",
    "尊嘟": "真的", "阔以": "可以",
}
# question tags at the end of a clause: 包邮不 → 包邮吗, 可以伐 → 可以吗, 有货咩 → 有货吗
_ZH_QUESTION_TAG = re.compile(r"(?<=[\u4e00-\u9fff])[不伐咩](?=\s*(?:[?？!！。，,~～]|$))")


@functools.lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters to simplified ones, character for character (same
    length and offsets as `text`, so spans found in the result point into `text`);
    unchanged when the text has no Chinese character."""
    if not _CJK.search(text):
        return text
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    # a phrase rule changed the length: convert one character at a time instead
    convert = _t2s().convert
    return "".join(c if not _CJK.match(c) or len(convert(c)) != 1 else convert(c)
                   for c in text)


def _chat_speak_en(text: str) -> str:
    return _EN_WORD.sub(lambda m: CHAT_SPEAK_EN.get(m.group(0).lower(), m.group(0)), text)


_ZH_RE = re.compile("|".join(map(re.escape, sorted(CHAT_SPEAK_ZH, key=len, reverse=True))))


def _chat_speak_zh(text: str) -> str:
    text = _ZH_RE.sub(lambda m: CHAT_SPEAK_ZH[m.group(0)], text)
    return _ZH_QUESTION_TAG.sub("吗", text)


_SEP = r"[\s,，.。!！~～:：;；、]*"
_LEADING_PLEASANTRY = re.compile(
    r"^(?:(?:(?:hi+|hello+|hey+) there|hi+|hello+|hey+|hiya|howdy|yo|dear \w+"
    r"|good (?:morning|afternoon|evening|day)|morning|evening|hope you(?:'re| are) (?:well|ok)"
    r"|sorry to bother you|excuse me|亲亲?|在吗|在不在|在么|在嘛|你好呀?|您好|哈喽|哈啰|嗨"
    r"|老板|掌柜的?|客服|打扰(?:一下|了)?|不好意思|麻烦(?:问)?一下)(?![a-z'])" + _SEP + ")+", re.I)
_TRAILING_PLEASANTRY = re.compile(
    _SEP + r"(?<![a-z'])(?:(?:many |a lot of )?thanks?(?: you)?"
    r"(?: so much| very much| in advance| a lot)?"
    r"|thx|ty|cheers|much appreciated|谢谢亲?|多谢|感谢|辛苦(?:了|啦)?|麻烦了)" + _SEP + "$",
    re.I)


def drop_pleasantries(text: str) -> str:
    """The message without a leading greeting and trailing thanks, when a request is left
    (a bare "hello", "thanks" or "ok thanks" stays what it is)."""
    rest = _TRAILING_PLEASANTRY.sub("", _LEADING_PLEASANTRY.sub("", text))
    # a request is left, not just "ok" or "好的" (a Chinese character counts twice)
    weight = len(re.findall(r"\w", rest)) + len(_CJK.findall(rest))
    return rest if weight >= 6 else text


def normalize(text: str, chat_speak: bool = False, pleasantries: bool = True) -> str:
    """The text the intent features are computed on (see the module docstring);
    `pleasantries=False` drops a leading greeting and trailing thanks."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text)
    text = _EMAIL.sub(f" {PLACEHOLDERS['email']} ", text)
    text = _LINK.sub(f" {PLACEHOLDERS['link']} ", text)
    text = _HANDLE.sub(f" {PLACEHOLDERS['handle']} ", text)
    text = _REPEAT.sub(r"\1\1", text)
    if chat_speak:
        text = _chat_speak_zh(_chat_speak_en(text))
    text = re.sub(r"\s+", " ", text).strip()
    return text if pleasantries else drop_pleasantries(text)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
                          is_trainable=False)
class ShopperTextNormalizer(GraphComponent):
    """Replaces each message's TEXT by `normalize(TEXT)` for the components after it, on
    the training examples and at run time alike, and keeps the shopper's text under
    `ORIGINAL_TEXT` (the catalog matcher reads that)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"chat_speak": False, "drop_pleasantries": False}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.chat_speak = bool(config.get("chat_speak", False))
        self.drop_pleasantries = bool(config.get("drop_pleasantries", False))

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext
               ) -> "ShopperTextNormalizer":
        return cls({**cls.get_default_config(), **config})

    def _normalize(self, message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or message.get(ORIGINAL_TEXT) is not None:
            return
        message.set(ORIGINAL_TEXT, text)
        message.set(TEXT, normalize(text, self.chat_speak, not self.drop_pleasantries))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
                          is_trainable=False)
class ShopperTextRestorer(GraphComponent):
    """Last in the pipeline: the message's TEXT is the shopper's own text again (what
    ShopperTextNormalizer kept), so that the parse result's text and its entity spans
    agree."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext
               ) -> "ShopperTextRestorer":
        return cls()

    @staticmethod
    def _restore(message: Message) -> None:
        original = message.get(ORIGINAL_TEXT)
        if original is not None:
            message.set(TEXT, original)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._restore(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._restore(message)
        return messages
