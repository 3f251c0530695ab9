"""Does an instruction ask for something? A small rule set over the balance report's root-verb parser.

An instruction is a request when one of its clauses is (the root-verb parser reads the first three; the
rules here read them all, since a scenario may come first: "You run a bakery. ... Write the sign.")
1. an imperative: `domain.verbs.root_verb_noun` finds a root verb ("Write ...", "Given X, find ..."), or
   the clause opens with a phrasal verb ("Sum up", "Pull out", "Work out") or a verb from `_MORE_VERBS`
   (imperatives the verb parser does not know and that take a bare plural: "Brainstorm ideas");
2. a question: any sentence ends in "?", or a clause opens with a question word ("what", "how", ...) or an
   auxiliary verb ("Is there ...", "Can you ..."), also without the question mark the small model drops;
3. a polite or indirect request anywhere: "please", "I want you to", "I'd like", "help me", "tell me".

What is left is a statement ("I am going to send you a package today.") or a noun phrase ("A list of
fruits."), which the model has nothing to answer to.
"""

from __future__ import annotations

import re

from domain.verbs import lemmatize_verb, root_verb_noun

_CLAUSES = re.compile(r"(?<=[.!?:;])\s+|\n+")
_CLAUSE_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_QUESTION_OPENERS = frozenset(
    """
    what whats what's how which who whom whose where when why whether is are was were am do does did can could
    should would will shall may might must has have had isn't aren't doesn't don't didn't can't couldn't
    shouldn't wouldn't won't
    """.split()
)
# Imperatives outside `domain.verbs.KNOWN_VERBS` seen in instructions, which may take a bare plural object.
_MORE_VERBS = frozenset(
    """
    brainstorm imagine pretend consider recall recommend narrate describe decipher sum pull work figure
    memorize recite role play act guess unscramble proofread reword tweet email draft convince persuade
    """.split()
)
_PARTICLES = frozenset({"up", "out", "down", "over", "through", "off"})
# Opening prepositions of a leading adverbial ("From the recipe, extract ...", "At sea level, what ...").
_LEADING_PREPOSITIONS = frozenset(
    "from at on with without under for in by after before during using given based according".split()
)
_REQUEST_PHRASE = re.compile(
    r"\b(?:please|kindly|i (?:want|need|would like|'d like) (?:you|to)|i'd like (?:you|to)|"
    r"help me|tell me|show me|give me|teach me|let me know|let's|let us)\b",
    re.IGNORECASE,
)


def clause_words(clause: str) -> list[str]:
    return [w.replace("\u2019", "'") for w in _CLAUSE_WORD.findall(clause.casefold())]


_PARENTHESES = re.compile(r"\([^()]*\)")


def _after_leading_phrase(clause: str) -> str:
    """The clause after "From the text," and similar leading prepositional phrases."""
    head, comma, rest = _PARENTHESES.sub("", clause).partition(",")  # "(name, age)" closes no phrase
    first = clause_words(head)[:1]
    return rest if comma and first and first[0] in _LEADING_PREPOSITIONS else clause


def _clause_kind(clause: str) -> str | None:
    words = clause_words(_after_leading_phrase(clause))
    if len(words) > 1 and words[0].endswith("ly") and len(words[0]) > 4:
        words = words[1:]  # a leading adverb: "Briefly explain ...", "Recursively flatten ..."
    if not words:
        return None
    if root_verb_noun(" ".join(words))[0] is not None:  # the parser again, on what follows the adverb
        return "imperative"
    if words[0] in _QUESTION_OPENERS:
        return "question"
    if words[0] in _MORE_VERBS or lemmatize_verb(words[0]) is not None:
        return "imperative"
    phrasal = len(words) > 1 and words[1] in _PARTICLES and words[0].isalpha() and len(words[0]) > 2
    return "imperative" if phrasal else None


def request_kind(text: str) -> str | None:
    """How the instruction asks ("imperative", "question", "request_phrase"), or None: it asks nothing."""
    if root_verb_noun(text)[0] is not None:
        return "imperative"
    if "?" in text:
        return "question"
    if _REQUEST_PHRASE.search(text):
        return "request_phrase"
    kinds = (_clause_kind(clause) for clause in _CLAUSES.split(text.strip()))
    return next((kind for kind in kinds if kind is not None), None)


def makes_request(text: str) -> bool:
    return request_kind(text) is not None
