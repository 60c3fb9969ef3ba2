"""Not understood must be said: a Rasa NLU component, after the intent classifier, that
takes the intent away from a message the model does not know the words of, so the
FallbackClassifier answers `nlu_fallback` ("sorry, I didn't get that") instead of a
confident real intent.

A linear classifier always picks some intent, often with high confidence: "qwerty uiop"
was `thank`, "jkl jkl" `inform`, "。。。" `inform`. A shop assistant knows when they have
not read a single word they know. So, as that assistant would:

- **Words the shop knows.** At training the component keeps the vocabulary of the
  training messages (their tokens after ShopperTextNormalizer and the tokenizer, lower
  case; emoji count as words: 👍 is an answer), and every Chinese character in them. A
  message's *known share* is the share of its word tokens (tokens with a letter, a
  Chinese character or a symbol such as an emoji; punctuation and bare numbers are not
  words) that are known: seen in training, or Chinese words all of whose characters
  were (a reader of Chinese knows characters; the segmenter cuts new phrases into words
  never seen whole); a Latin word of four letters or more one typo away from a known
  one (hellow, thanku, okey) is known too. Below `min_known_share` the message is not
  understood: keyboard
  mash, strings of unknown words. Emoji alone are known only when the training data has
  them as a message of their own (👍, 👌: answers); an emoji seen only inside sentences
  (🙃 after a rant) says nothing alone.
- **No words at all.** Punctuation alone ("。。。", "???") is not understood.
- **A key held down.** One Latin letter or one Chinese interjection (啊, 额, 嗯, 哈...)
  typed `held_key_repeats` times or more and nothing else ("啊啊啊啊", "额额额额", "hhhhh")
  is not understood, although the normaliser cuts it to two ("啊啊") and that may be a
  known word; three (嗯嗯嗯) is still an answer, and a content character said over and
  over (谢谢谢谢, 拜拜拜拜) is left to the vocabulary.
- **A catalog name is always understood.** A message that names something of the catalog
  (a size "42" or "XL", a colour, a product, an order number: CatalogEntityExtractor) is
  never taken away: "42" after "which size?" is an answer.

The intent becomes none with confidence 0 (the classifier's ranking is kept, for the
record), and the message carries `known_share`. The threshold was chosen by grouped
cross-validation on the training files (bench/cv_intents.py --gate, docs/nlu.md).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from typing import Any, Dict, Iterable, List, Optional, Set, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.catalog_entities import ENTITY_TYPES
from bot.nlu.normalizer import ORIGINAL_TEXT

VOCABULARY_FILE = "vocabulary.json"
# the share of a message's words found in the training vocabulary, set on every message
KNOWN_SHARE = "known_share"


# an emoji-only message the training data has as a whole message (👍, 👌 as answers),
# kept in the vocabulary under this prefix
ALONE = "alone:"


def is_word(token: str) -> bool:
    """A token that can carry meaning: it has a letter (any script, Chinese characters
    included) or a pictograph or currency sign (emoji, ✅, ¥); punctuation, maths signs
    (~ + =) and bare numbers are not words."""
    return any(unicodedata.category(c)[0] == "L" or unicodedata.category(c) in ("So", "Sc")
               for c in token)


def has_letter(word: str) -> bool:
    return any(unicodedata.category(c)[0] == "L" for c in word)


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[a-z']+")


def words(tokens: Iterable[str]) -> List[str]:
    return [t.lower() for t in tokens if is_word(t)]


def _deletes(word: str) -> Set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


class Vocabulary(set):
    """The known words (a set), with an index for one-typo lookups (`near`): the words of
    four Latin letters or more, each with one letter deleted."""

    @functools.cached_property
    def _one_deleted(self) -> Set[str]:
        return {d for w in self if len(w) >= 4 and _LATIN.fullmatch(w) for d in _deletes(w)}

    def near(self, word: str) -> bool:
        """A known word of four letters or more is one typo away from `word` (a letter
        missing, added, wrong, or two swapped: hllo, hellow, okey, thnaks)."""
        if len(word) < 4 or not _LATIN.fullmatch(word):
            return False
        one_deleted = self._one_deleted
        return word in one_deleted or any(d in self or d in one_deleted
                                          for d in _deletes(word))


def vocabulary_of(messages_tokens: Iterable[Iterable[str]]) -> Vocabulary:
    """What the training messages (their tokens) teach a reader: their words, each
    Chinese character of them on its own, and the emoji of messages that are emoji alone
    (prefixed with ALONE)."""
    vocabulary = Vocabulary()
    for tokens in messages_tokens:
        found = words(tokens)
        for w in found:
            vocabulary.add(w)
            vocabulary.update(_CJK.findall(w))
        if found and not any(has_letter(w) for w in found):
            vocabulary.update(ALONE + w for w in found)
    return vocabulary


def is_known(word: str, vocabulary: Set[str]) -> bool:
    """A word seen in training; a Chinese word all of whose characters were (a Chinese
    reader knows characters, and the segmenter cuts a new phrase of known characters,
    防腐剂 or 生意兴隆, into words the training data may never have had as such); or, with
    a Vocabulary, a Latin word one typo from a known one (hellow, thanku)."""
    if word in vocabulary:
        return True
    chinese = _CJK.findall(word)
    if chinese:
        return all(c in vocabulary for c in chinese)
    return isinstance(vocabulary, Vocabulary) and vocabulary.near(word)


def known_share(tokens: Iterable[str], vocabulary: Set[str]) -> Optional[float]:
    """The share of the words among `tokens` that are known (`is_known`); None when there
    is no word at all."""
    found = words(tokens)
    if not found:
        return None
    if not any(has_letter(w) for w in found):      # emoji alone: known alone, or not
        return sum(ALONE + w in vocabulary for w in found) / len(found)
    return sum(is_known(w, vocabulary) for w in found) / len(found)


# Chinese interjections (语气词): sounds, not words; one of them held down says nothing,
# where a content character said over and over still does (谢谢谢谢, 拜拜拜拜, 好好好好)
INTERJECTIONS = set("啊呀哦噢喔额呃嗯唔哈嘿嘻呵嘤呜哇诶欸哎唉咦嗷")


def held_key(text: str, repeats: int) -> bool:
    """One Latin letter or one Chinese interjection typed `repeats` times or more and
    nothing else but spaces and punctuation ("啊啊啊啊", "hhhhh!"); a content character
    repeated ("谢谢谢谢") is not a held key."""
    letters = re.sub(r"[\W\d_]", "", text).lower()
    if len(letters) < repeats or len(set(letters)) != 1:
        return False
    return letters[0] in INTERJECTIONS or "a" <= letters[0] <= "z"


def not_understood(tokens: Iterable[str], text: str, names_catalog_entity: bool,
                   vocabulary: Set[str], min_known_share: float, repeats: int) -> bool:
    """Whether a message must be answered "not understood" (see the module docstring):
    `tokens` are its tokens after normalisation, `text` what the shopper typed."""
    if names_catalog_entity:
        return False
    if held_key(text, repeats):
        return True
    share = known_share(tokens, vocabulary)
    return share is None or share < min_known_share


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class UnknownTextGate(GraphComponent):
    """After the intent classifier: no intent for a message the model does not know the
    words of (see the module docstring); the FallbackClassifier after it then says so."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"min_known_share": 0.5, "held_key_repeats": 4}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, vocabulary: Optional[Vocabulary] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext
               ) -> "UnknownTextGate":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        vocabulary = vocabulary_of([t.text for t in m.get(TOKENS_NAMES[TEXT]) or ()]
                                   for m in training_data.intent_examples)
        self.vocabulary = vocabulary
        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / VOCABULARY_FILE).write_text(
                json.dumps(sorted(vocabulary), ensure_ascii=False), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage,
             resource: Resource, execution_context: ExecutionContext,
             **kwargs: Any) -> "UnknownTextGate":
        try:
            with model_storage.read_from(resource) as model_dir:
                vocabulary = Vocabulary(json.loads(
                    (model_dir / VOCABULARY_FILE).read_text(encoding="utf-8")))
        except (ValueError, FileNotFoundError):     # nothing persisted: gate nothing
            vocabulary = None
        return cls(config, model_storage, resource, vocabulary)

    def process(self, messages: List[Message]) -> List[Message]:
        if self.vocabulary is None:
            return messages
        for message in messages:
            tokens = [t.text for t in message.get(TOKENS_NAMES[TEXT]) or ()]
            typed = message.get(ORIGINAL_TEXT)
            typed = message.get(TEXT) if typed is None else typed
            share = known_share(tokens, self.vocabulary)
            message.set(KNOWN_SHARE, share, add_to_output=True)
            if not_understood(tokens, typed or "", bool(message.get(ENTITY_TYPES)),
                              self.vocabulary, float(self._config["min_known_share"]),
                              int(self._config["held_key_repeats"])):
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
        return messages
