"""Rasa NLU component: catalog entities (products by name or alias, colours, sizes,
cities, categories, order ids, quantities) in both languages.

Matching reads the shopper's own text, traditional characters as simplified ones (see
bot/nlu/normalizer.py), so entity spans point at what the shopper typed.

Training reads the catalog database and persists the phrase patterns with the model, so a
trained model answers the same way wherever it is loaded. Entities are appended to what
earlier components found; values are canonical (product id, colour key, size, city key).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.matcher import LABELS, CatalogMatcher, patterns_from_catalog
from bot.nlu.normalizer import ORIGINAL_TEXT, to_simplified

PATTERNS_FILE = "patterns.jsonl"
# the entity types found in a message, for the intent classifier's features: set on
# training examples too (their annotated ENTITIES are left as written), so the classifier
# sees the same thing at training and at run time
ENTITY_TYPES = "catalog_entity_types"
# a place outside the catalog's cities (Taiwan, London) counts as a city for the features:
# "what about taiwan" after a delivery answer is the same question as "what about hangzhou".
# It is not emitted as an entity (the actions read places from the text, catalog.place_in).
FEATURE_TYPE = {"place": "city"}
EMITTED = [label for label in LABELS if label != "place"]


def entity_types(found: List[Dict[Text, Any]]) -> List[Text]:
    """The classifier's entity-type features of a message's catalog entities."""
    return sorted({FEATURE_TYPE.get(e["entity"], e["entity"]) for e in found})


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True
)
class CatalogEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Recognises catalog entities with a spaCy PhraseMatcher built from the catalog."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # path of the catalog database; None = the shop's settings (SHOPASSIST_CATALOG)
            "catalog_path": None,
            # entity labels to emit
            "entities": list(EMITTED),
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, matcher: Optional[CatalogMatcher] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._labels = set(self._config["entities"])
        self.matcher = matcher

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext
               ) -> "CatalogEntityExtractor":
        return cls(config, model_storage, resource)

    def _catalog_path(self) -> str:
        if self._config.get("catalog_path"):
            return str(self._config["catalog_path"])
        from bot.settings import get_settings

        return str(get_settings().catalog_path)

    def train(self, training_data: TrainingData) -> Resource:
        self.matcher = CatalogMatcher(patterns_from_catalog(self._catalog_path()))
        self.persist()
        return self._resource

    def persist(self) -> None:
        if self.matcher is None:
            return
        with self._model_storage.write_to(self._resource) as model_dir:
            self.matcher.to_jsonl(model_dir / PATTERNS_FILE)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage,
             resource: Resource, execution_context: ExecutionContext,
             **kwargs: Any) -> "CatalogEntityExtractor":
        try:
            with model_storage.read_from(resource) as model_dir:
                matcher = CatalogMatcher.from_jsonl(model_dir / PATTERNS_FILE)
        except (ValueError, FileNotFoundError):
            matcher = None
        return cls(config, model_storage, resource, matcher)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        if self.matcher is None:
            return training_data
        for message in training_data.training_examples:
            if message.get(TEXT):
                message.set(ENTITY_TYPES, entity_types(self._extract(message)))
        return training_data

    def _extract(self, message: Message) -> List[Dict[Text, Any]]:
        """Every catalog entity in the shopper's own text (kept by ShopperTextNormalizer
        when it runs first), read with traditional characters as simplified ones, character
        for character: the spans point into what the shopper typed."""
        text = message.get(ORIGINAL_TEXT)
        text = message.get(TEXT) if text is None else text
        text = text or ""
        return [{**e, "text": text[e["start"]:e["end"]]}
                for e in self.matcher.extract(to_simplified(text))]

    def process(self, messages: List[Message]) -> List[Message]:
        if self.matcher is None:
            return messages
        for message in messages:
            every = self._extract(message)
            message.set(ENTITY_TYPES, entity_types(every))
            found = [
                {"entity": e["entity"], "start": e["start"], "end": e["end"],
                 "value": e["value"], "confidence_entity": 1.0}
                for e in every if e["entity"] in self._labels
            ]
            found = self.add_extractor_name(found)
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
