"""Rasa custom actions: thin wrappers over the catalog API.

`base` holds what every action shares (catalog, clock, language, context, texts, the base
classes); `crosssell` offers cross-sells; each concern has its own module, importing only
from those two. Importing the package loads every action, as rasa_sdk does when it
registers the package, so that an action can pass a question on to another by its name
(`ShopAction.named`).
"""

from . import crosssell, orders, pricing, products, service, shipping, stock  # noqa: F401
