"""The shopper's identity: only an id signed with the shop's secret counts."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

from bot.local_secret import local_secret
from bot.shop_identity import sign_customer, verified_customer


def test_signature_is_the_documented_hmac():
    # what a storefront computes: hex HMAC-SHA256 of the customer id with the shop secret
    expected = hmac.new(b"s3cret", b"C0042", hashlib.sha256).hexdigest()
    assert sign_customer("C0042", "s3cret") == expected


def test_only_a_valid_signature_counts():
    sig = sign_customer("C0042", "s3cret")
    assert verified_customer("C0042", sig, "s3cret") == "C0042"
    assert verified_customer("C0042", sig.upper(), "s3cret") == "C0042"
    assert verified_customer("C0043", sig, "s3cret") is None       # another customer
    assert verified_customer("C0042", sig, "other") is None        # another shop
    assert verified_customer("C0042", None, "s3cret") is None      # a bare claim
    assert verified_customer("C0042", "", "s3cret") is None
    assert verified_customer(None, sig, "s3cret") is None
    assert verified_customer(True, sig, "s3cret") is None
    assert verified_customer("C0042", ["x"], "s3cret") is None


def test_local_secret_is_made_once_and_private(tmp_path):
    first = local_secret("k", folder=tmp_path)
    assert len(first) == 64 and local_secret("k", folder=tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == 0o600
    assert local_secret("k", "configured", folder=tmp_path) == "configured"
    assert local_secret("other", folder=tmp_path) != first
