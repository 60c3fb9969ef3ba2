"""The desk keeps an answer's words and facts together, as the action sent them."""

from desk.rasa_client import merge_split_replies


def test_custom_only_reply_joins_the_text_before_it():
    stock = {"type": "stock", "product_id": "P001", "variants": []}
    replies = [{"recipient_id": "c1", "text": "有货", "buttons": [{"title": "42",
                                                                  "payload": "/x"}]},
               {"recipient_id": "c1", "custom": stock},
               {"recipient_id": "c1", "text": "还需要袜子吗?"},
               {"recipient_id": "c1", "custom": {"type": "recommendations", "items": []}}]
    merged = merge_split_replies(replies)
    assert [m.get("text") for m in merged] == ["有货", "还需要袜子吗?"]
    assert merged[0]["custom"] == stock and merged[0]["buttons"][0]["title"] == "42"
    assert merged[1]["custom"]["type"] == "recommendations"


def test_a_lone_custom_or_a_second_custom_stays_its_own_message():
    replies = [{"recipient_id": "c1", "custom": {"type": "handoff", "reason": "requested"}},
               {"recipient_id": "c1", "text": "a", "custom": {"type": "price"}},
               {"recipient_id": "c1", "custom": {"type": "stock"}}]
    assert merge_split_replies(replies) == replies
