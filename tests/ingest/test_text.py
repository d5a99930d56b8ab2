"""Item text: cleaning, templates, sentence de-duplication and token counts."""

from __future__ import annotations

from gre_ray.ingest.clean import SentenceFilter, clean_text
from gre_ray.ingest.config import TextSettings
from gre_ray.ingest.text import build_text, format_value
from gre_ray.ingest.tokens import resolve_tokenizer, token_counter

DEFAULT = TextSettings()


def test_cleaning_removes_markup_addresses_and_control_characters():
    raw = "Tent &amp; <b>Shelter</b><br/>\tSee https://a.example/x?y=1 or www.b.com, mail me@shop.co.uk!\x07\u200b  Done"
    assert clean_text(raw, DEFAULT) == "Tent & Shelter See or, mail! Done"
    assert clean_text("I <3 this > that", DEFAULT) == "I <3 this > that"  # not a tag
    assert clean_text("<!-- note --> x", DEFAULT) == "x"


def test_unicode_is_kept_unless_ascii_is_asked_for():
    text = "Café Ünique 美食视频 naïve"
    assert clean_text(text, DEFAULT) == text
    assert clean_text(text, TextSettings(ascii_only=True)) == "Cafe Unique naive"


def test_cleaning_can_be_switched_off_and_never_truncates():
    keep = TextSettings(strip_html=False, strip_urls=False, strip_emails=False)
    assert clean_text("<b>x</b> http://a.b c@d.ef", keep) == "<b>x</b> http://a.b c@d.ef"
    long = "word " * 5000
    assert clean_text(long, DEFAULT) == long.strip()


def test_sentence_filter_drops_repeats_across_fields():
    exact = SentenceFilter(1.0)
    assert exact("Waterproof. Light weight.") == "Waterproof. Light weight."
    assert exact("WATERPROOF! Packs small.") == "Packs small."
    near = SentenceFilter(0.6)
    assert near("The tent is waterproof and light.") == "The tent is waterproof and light."
    assert near("The tent is very waterproof and light. Poles included.") == "Poles included."


def test_template_order_labels_and_separators():
    fields = {"title": "Stove", "features": ["Piezo ignition", "Simmer"], "description": ["Boils fast.", "Folds."],
              "details": {"Brand": "Acme", "Weight": 0.5, "Color": None}, "empty": []}  # fmt: skip
    names = ("title", "features", "description", "details", "empty", "absent")
    assert build_text(fields, names, DEFAULT) == (
        "Title: Stove\nFeatures: Piezo ignition, Simmer\nDescription: Boils fast. Folds.\nDetails: Brand: Acme, Weight: 0.5"
    )
    plain = TextSettings(labels=False, field_separator=" | ", list_separator="; ")
    assert build_text(fields, ("description", "title", "features"), plain) == "Boils fast. Folds. | Stove | Piezo ignition; Simmer"
    named = TextSettings(label_names={"title": "Name"}, dedupe_sentences=1.0)
    assert build_text({"title": "Good.", "description": ["Good.", "Cheap."]}, ("title", "description"), named) == (
        "Name: Good.\nDescription: Cheap."
    )
    assert format_value(True, ", ") == "yes" and format_value(3, ", ") == "3"


def test_token_counts_use_the_shipped_minilm_without_truncation():
    count = token_counter(resolve_tokenizer("all-MiniLM-L6-v2"))
    short, long = count(["hello world", "word " * 300])
    assert short == 2
    assert long == 300  # counted whole: the saved tokenizer truncates at 128
    assert resolve_tokenizer("") is None
