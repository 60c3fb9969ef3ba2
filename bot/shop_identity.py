"""Who the shopper is: the storefront knows its signed-in customer and passes the customer
id with a signature, an HMAC-SHA256 of the id made with the shop's secret (hex). Only a
correctly signed id counts; a bare claim is an anonymous shopper (docs/actions.md shows
how a shop's storefront signs, in Python and JavaScript)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Optional

from bot.local_secret import local_secret
from bot.settings import get_settings


def shop_secret() -> str:
    """SHOPASSIST_SHOP_SECRET, else this installation's generated secret."""
    return local_secret("shop_secret", get_settings().shop_secret)


def sign_customer(customer_id: str, secret: Optional[str] = None) -> str:
    """The signature a storefront sends beside `customer_id`."""
    key = (secret or shop_secret()).encode()
    return hmac.new(key, str(customer_id).encode("utf-8"), hashlib.sha256).hexdigest()


def verified_customer(customer_id: Any, signature: Any,
                      secret: Optional[str] = None) -> Optional[str]:
    """The customer id when `signature` is its valid signature, else None (anonymous)."""
    if not isinstance(customer_id, (str, int)) or isinstance(customer_id, bool) \
            or not isinstance(signature, str):
        return None
    customer_id = str(customer_id)
    if not customer_id or len(customer_id) > 200 or len(signature) > 128:
        return None
    expected = sign_customer(customer_id, secret)
    return customer_id if hmac.compare_digest(expected, signature.strip().lower()) else None
