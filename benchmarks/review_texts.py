"""Review-like texts for the embedding benchmarks: English sentences about products.

Product reviews (Amazon Reviews 2023 averages ~60 words a review, with a long tail) are
what GRE-B embeds most of, and they tokenize like prose: mostly whole-word WordPiece
tokens, ~1.3 tokens a word. Random word lists (``bench_embed.make_texts``) tokenize
differently and have no sentence structure, so the throughput and the int8/fp32 agreement
measured on them may not carry to real data. This builds texts from sentence templates
filled with the demo vocabulary's brands, products and features: a review is a title-like
opening plus a log-normal number of sentences (mean ~63 words, 5 to ~400 words).
"""

from __future__ import annotations

import numpy as np

from gre_ray.demo.generator import vocabulary

OPENINGS = (
    "Great {noun}!", "Not what I expected.", "Five stars.", "Solid {noun} for the price.", "Returned it.",
    "Works as described.", "My second {brand} {noun}.", "Disappointed.", "Exactly what I needed.", "Pretty good overall.",
)
SENTENCES = (
    "I bought this {noun} for my {person} and {pronoun} uses it every day.",
    "The {feature} is {adjective} and feels {quality}.",
    "After {weeks} weeks the {feature} started to {problem}, which was disappointing.",
    "Compared to my old {brand} {noun}, this one is {comparison}.",
    "Shipping took {days} days and the box arrived {condition}.",
    "It is {adjective}, but the {feature} could be better.",
    "Honestly I was not sure about the {feature} at first, but it grew on me.",
    "Customer service replaced it within a week when the {feature} failed.",
    "For {price} dollars you cannot really complain about the {feature}.",
    "The {noun} looks exactly like the pictures and the {feature} is {quality}.",
    "I would recommend it to anyone who needs a {adjective} {noun}.",
    "My only complaint is that the {feature} is a bit {flaw}.",
    "We have used it on three trips now and it still works like new.",
    "The instructions were confusing, so it took me an hour to set up.",
    "It does the job, nothing more and nothing less.",
    "Would buy again from {brand} without thinking twice.",
    "The {feature} broke after a month, so I gave it two stars.",
    "Size runs a little {flaw}, so order one size up.",
)
FILL = {
    "person": ("husband", "wife", "son", "daughter", "mother", "dad", "roommate", "friend"),
    "pronoun": ("he", "she", "they"),
    "quality": ("well made", "cheap", "solid", "flimsy", "sturdy", "premium", "decent"),
    "problem": ("wear out", "crack", "peel", "squeak", "loosen", "fade"),
    "comparison": ("much better", "slightly worse", "about the same", "lighter", "heavier", "a big upgrade"),
    "condition": ("in perfect shape", "slightly dented", "well packed", "open", "on time"),
    "flaw": ("small", "loud", "heavy", "stiff", "tight", "short", "expensive"),
}


def review_texts(n: int, seed: int = 0, mean_sentences: float = 5.3) -> list[str]:
    """``n`` review-like texts; each draws one domain of the demo vocabulary and one product.

    Args:
        n: texts to make.
        seed: random seed (the same seed gives the same texts).
        mean_sentences: mean number of sentences after the opening (log-normal, sigma 0.8).
    """
    rng = np.random.default_rng(seed)
    domains = list(vocabulary().values())
    counts = np.clip(np.round(rng.lognormal(np.log(mean_sentences) - 0.32, 0.8, n)), 0, 40).astype(int)
    texts = []
    for count in counts:
        spec = domains[rng.integers(len(domains))]
        category = list(spec["categories"].values())[rng.integers(len(spec["categories"]))]

        def pick(options) -> str:
            return str(options[rng.integers(len(options))])

        values = {"noun": pick(category["nouns"]), "brand": pick(spec["brands"]), "adjective": pick(spec["adjectives"]),
                  "weeks": int(rng.integers(2, 12)), "days": int(rng.integers(2, 15)), "price": int(rng.integers(9, 300))}
        parts = [pick(OPENINGS)]
        for _ in range(count):
            fill = {key: pick(options) for key, options in FILL.items()}
            parts.append(pick(SENTENCES).format(feature=pick(category["words"]), **values, **fill))
        texts.append(" ".join(parts).format(**values))
    return texts
