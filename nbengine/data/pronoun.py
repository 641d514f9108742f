"""The pronoun task, generated in code: in "the cat ate the fish because it was
hungry", which word does "it" stand for?

Every sentence names an animal and a food and ends "because it was ADJ". An
animal's adjective (hungry, starving, ...) makes "it" the animal; a food's (tasty,
fresh, ...) makes it the food. The sentences come in two patterns, so where a word
stands does not give the answer away:

    active:   the cat ate the fish because it was hungry            (animal first)
    passive:  the fish was eaten by the cat because it was tasty    (food first)

with verbs of one or two words (ate, devoured, gobbled up) and "the" or "a" (an,
some) before each noun, so the sentences have 9 to 12 words and "it" stands at
four different places. The lesson's own sentence, "A cat ate the fish because it
was hungry", is one of them (words are lower-cased).

Held-out sentences are honest: the (animal, food) pairs are split, so no pair of
a held-out sentence appears together in any training sentence (the words
themselves all appear in training, in other pairs). The lesson's pair (cat, fish)
is always held out, so the trace of the lesson's sentence shows a sentence the
model never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from nbengine.i18n import Msg

ANIMALS = (
    "cat",
    "dog",
    "fox",
    "bear",
    "wolf",
    "owl",
    "lion",
    "tiger",
    "mouse",
    "otter",
    "eagle",
    "shark",
)
FOODS = (
    "fish",
    "bread",
    "cake",
    "apple",
    "cheese",
    "meat",
    "rice",
    "soup",
    "carrot",
    "egg",
    "honey",
    "pie",
)
# Adjectives that only suit the eater, and ones that only suit the food.
ANIMAL_ADJECTIVES = ("hungry", "starving", "greedy", "ravenous")
FOOD_ADJECTIVES = ("tasty", "delicious", "fresh", "juicy")
# "a" is written "an" before a vowel and "some" before a food one cannot count
ARTICLES = ("the", "a")
UNCOUNTABLE = ("bread", "cheese", "meat", "rice", "soup", "honey")
# (active form, passive participle)
VERBS = (("ate", "eaten"), ("devoured", "devoured"), ("gobbled up", "gobbled up"))
PATTERNS = ("active", "passive")
PRONOUN = "it"
LESSON_PAIR = ("cat", "fish")
LESSON_SENTENCE = "A cat ate the fish because it was hungry"
LESSON_TASTY = "A cat ate the fish because it was tasty"
HELD_OUT_FRACTION = 0.2


def vocabulary() -> list[str]:
    """Every word a sentence can use, in a fixed order."""
    words = list(ARTICLES) + ["an", "some"]
    for active, passive in VERBS:
        words += active.split() + passive.split()
    words += ["was", "by", "because", PRONOUN]
    words += list(ANIMALS) + list(FOODS) + list(ANIMAL_ADJECTIVES) + list(FOOD_ADJECTIVES)
    return list(dict.fromkeys(words))


def tokenize(sentence: str) -> list[str]:
    """Lower-cased words, split on spaces; a full stop or comma at a word's end is dropped."""
    return [w.strip(".,") for w in sentence.lower().split() if w.strip(".,")]


def article(kind: str, noun: str) -> str:
    """ "the", or "a" as English writes it before this noun: "a cat", "an owl", "some rice"."""
    if kind == "the":
        return "the"
    if kind != "a":
        raise ValueError(f"no article {kind!r}; the articles are {', '.join(ARTICLES)}")
    if noun in UNCOUNTABLE:
        return "some"
    return "an" if noun[0] in "aeiou" else "a"


def sentence(
    pattern: str,
    animal: str,
    food: str,
    adjective: str,
    verb: int = 0,
    articles: tuple[str, str] = ("the", "the"),
) -> list[str]:
    """One sentence's words. ``articles`` are those of the first and the second noun ("the" or "a")."""
    active, passive = VERBS[verb]
    if pattern == "active":
        first, second = animal, food
    elif pattern == "passive":
        first, second = food, animal
    else:
        raise ValueError(f"no pattern {pattern!r}; the patterns are {', '.join(PATTERNS)}")
    a1, a2 = article(articles[0], first), article(articles[1], second)
    if pattern == "active":
        text = f"{a1} {animal} {active} {a2} {food} because it was {adjective}"
    else:
        text = f"{a1} {food} was {passive} by {a2} {animal} because it was {adjective}"
    return text.split()


@dataclass
class Example:
    words: list[str]
    pronoun: int  # where "it" stands
    antecedent: int  # where the word "it" stands for stands
    answer: str  # that word
    pattern: str
    pair: tuple[str, str]  # (animal, food)


def example(words: list[str], animal: str, food: str, adjective: str, pattern: str) -> Example:
    answer = animal if adjective in ANIMAL_ADJECTIVES else food
    return Example(
        words, words.index(PRONOUN), words.index(answer), answer, pattern, (animal, food)
    )


def split_pairs(seed: int, held_out_fraction: float = HELD_OUT_FRACTION):
    """(train pairs, held-out pairs) of (animal, food): a seeded shuffle; the lesson's pair is always held out."""
    pairs = [p for p in product(ANIMALS, FOODS) if p != LESSON_PAIR]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    n_held = max(1, round(held_out_fraction * (len(pairs) + 1))) - 1
    held = [LESSON_PAIR] + [pairs[i] for i in sorted(order[:n_held])]
    train = [pairs[i] for i in sorted(order[n_held:])]
    return train, held


def examples_for(pairs) -> list[Example]:
    """Every sentence of these pairs: each pattern, verb, pair of articles and adjective."""
    out = []
    for animal, food in pairs:
        for pattern, verb, arts, adj in product(
            PATTERNS,
            range(len(VERBS)),
            product(ARTICLES, ARTICLES),
            ANIMAL_ADJECTIVES + FOOD_ADJECTIVES,
        ):
            out.append(
                example(
                    sentence(pattern, animal, food, adj, verb, arts), animal, food, adj, pattern
                )
            )
    return out


@dataclass
class PronounTask:
    """The task's vocabulary and its two splits of sentences."""

    words: list[str]
    train: list[Example]
    held_out: list[Example]
    train_pairs: list[tuple[str, str]]
    held_out_pairs: list[tuple[str, str]]
    seed: int

    @property
    def max_length(self) -> int:
        return max(len(e.words) for e in self.train + self.held_out)

    def ids(self, words) -> np.ndarray:
        index = {w: i for i, w in enumerate(self.words)}
        return np.array([index[w] for w in words], np.int64)

    @property
    def description(self) -> str:
        return Msg(
            "the pronoun task: {train:,} training sentences ({train_pairs} animal–food pairs), {held_out:,} "
            "held-out ({held_out_pairs} other pairs, the lesson's cat–fish among them), {words} words",
            train=len(self.train),
            train_pairs=len(self.train_pairs),
            held_out=len(self.held_out),
            held_out_pairs=len(self.held_out_pairs),
            words=len(self.words),
        )


def make_task(seed: int = 0, held_out_fraction: float = HELD_OUT_FRACTION) -> PronounTask:
    """The task from a seed: the same seed gives the same split."""
    train_pairs, held_pairs = split_pairs(seed, held_out_fraction)
    return PronounTask(
        vocabulary(),
        examples_for(train_pairs),
        examples_for(held_pairs),
        train_pairs,
        held_pairs,
        seed,
    )


def batches(
    task: PronounTask,
    examples: list[Example],
    batch_size: int,
    rng: np.random.Generator | None = None,
):
    """Yield (ids (N, T), pronoun positions (N,), answer ids (N,), the examples) with every
    sentence of a batch the same length (so no padding is needed); shuffled when rng is given."""
    by_length: dict[int, list[int]] = {}
    for i, e in enumerate(examples):
        by_length.setdefault(len(e.words), []).append(i)
    chunks = []
    for length in sorted(by_length):
        idx = np.array(by_length[length])
        if rng is not None:
            idx = idx[rng.permutation(len(idx))]
        chunks += [idx[s : s + batch_size] for s in range(0, len(idx), batch_size)]
    if rng is not None:
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    index = {w: i for i, w in enumerate(task.words)}
    for chunk in chunks:
        group = [examples[i] for i in chunk]
        ids = np.array([[index[w] for w in e.words] for e in group], np.int64)
        where = np.array([e.pronoun for e in group], np.int64)
        answers = np.array([index[e.answer] for e in group], np.int64)
        yield ids, where, answers, group
