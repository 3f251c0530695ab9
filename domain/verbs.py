"""Root verb and direct-object noun of an instruction: a small heuristic parser, pure and fast.

The self-instruct paper ran a constituency parser over every instruction and kept the verb closest to
the root with its first direct-object noun. No parser model is available offline, so this reads the
imperative pattern that most instructions follow:

1. Split into clauses (sentence ends, newlines, " - "); look at the first three, take the first hit.
2. Drop a leading adverbial clause up to its comma ("Given a list of numbers, find ..." -> "find ...";
   also "Using", "In this task", "Suppose", "To ...", "You are given ...") and a subject or modal
   prefix ("You need to", "Can you", "Please", "I want you to").
3. The first word is the verb when it is a known instruction verb (after light lemmatisation:
   "Solving" -> "solve", "Writes" -> "write"), or when it is not a known non-verb and the next word
   opens a noun phrase ("Brainstorm a list"). Questions ("What is ...", "Is there ...") have no verb.
   Catenatives hand over to the verb they govern ("Try coming up with ..." -> "come").
4. After the verb and its particles ("come up with", "fill in", "turn down"), skip indirect-object
   pronouns ("Give me a joke"), determiners, numbers and possessives, then read the noun phrase up to
   a preposition, conjunction or punctuation; its last word is the head noun ("a grocery list for" ->
   "list"), singularised by simple suffix rules. A phrase of adjectives only ("the largest") or a
   pronoun ("them", "something") gives no noun.

Measured on the paper's 175 seed tasks: a verb for 161 (92%); the misses are questions and statements.
"""

from __future__ import annotations

import re

_CLAUSES = re.compile(r"(?<=[.!?])\s+|\n+|\s+[-\u2013\u2014]+\s+")
_TOKENS = re.compile(r"\w+(?:['\u2019-]\w+)*|[^\w\s]")
_MAX_CLAUSES = 3
_MAX_PHRASE_WORDS = 6

KNOWN_VERBS = frozenset(
    """
    add adapt analyze analyse answer apply arrange ask assess assign build calculate categorize categorise change
    check choose cite classify clean come compare compile complete compose compute condense construct continue
    convert correct count create critique debug decide define delete derive describe design detect determine
    develop devise diagnose discuss draft draw edit elaborate enumerate estimate evaluate examine expand explain
    express extract fill filter find fix format formulate generate give group guess help highlight identify
    illustrate implement improve infer insert interpret invent label let link list locate make map match measure
    mention modify name note offer order organize organise outline output paraphrase parse pick plan point
    predict prepare present produce propose provide put quote rank rate read recommend refactor remove rephrase
    replace reply report represent respond restate return reverse review revise rewrite run say score select
    separate share shorten show simplify solve sort specify spell split state suggest summarize summarise supply
    take tell test think transform translate try turn update use verify want write
    """.split()
)
# Words that start questions and statements: never the imperative verb.
_NON_VERBS = frozenset(
    """
    what how why which who whom whose where when is are was were am be been does do did can could should would
    will shall may might must has have had there here it i im my we our you your they their he she this that
    these those the a an if in on at as for of to with by from question please yes no not
    """.split()
)
_CATENATIVES = frozenset({"try", "help", "let", "want", "need", "keep", "start", "begin", "continue"})
_PARTICLES = frozenset({"up", "down", "out", "in", "off", "over", "with", "back", "away"})
_LEADING_CLAUSE = frozenset(
    {"given", "using", "in", "suppose", "assume", "as", "to", "if", "based", "for", "after", "before", "when"}
)
_PREFIXES = (
    ("you", "are", "given"),
    ("you", "are", "provided"),
    ("you", "will", "be", "given"),
    ("i", "want", "you", "to"),
    ("i", "need", "you", "to"),
    ("i", "would", "like", "you", "to"),
    ("you", "need", "to"),
    ("you", "have", "to"),
    ("you", "should"),
    ("you", "must"),
    ("you", "can"),
    ("you", "will"),
    ("can", "you"),
    ("could", "you"),
    ("would", "you"),
    ("will", "you"),
    ("please",),
    ("and",),
    ("now",),
    ("then",),
)
_DETERMINERS = frozenset(
    """
    a an the this these those some any all each every several few many much more most both either neither
    another other such own my your his her its our their following given certain various one two three four
    five six seven eight nine ten first second third
    """.split()
)
_PRONOUNS = frozenset(
    """
    me us him her them it you myself yourself ourselves themselves something anything everything nothing someone
    anyone everyone one ones
    """.split()
)
# A noun phrase ends at any of these (or at punctuation).
_BOUNDARIES = frozenset(
    """
    of for to in on at about with from into onto by as like than that which who whom whose where when while if
    whether and or but so because since until without within based using given including according below above
    here there how why what is are was were be can could should would will may might must do does did has have
    """.split()
)
_ADJECTIVES = frozenset(
    """
    largest smallest longest shortest biggest best worst oldest youngest highest lowest most least first last
    next same different new old good bad other main similar whole entire correct following given
    """.split()
)
_LY_NOUNS = frozenset({"family", "supply", "reply", "assembly", "butterfly", "ally", "rally", "anomaly", "monopoly"})
_PLURAL_KEEP = frozenset(
    {
        "news",
        "series",
        "species",
        "lens",
        "physics",
        "mathematics",
        "politics",
        "ethics",
        "gas",
        "bias",
        "atlas",
        "canvas",
    }
)
_TRANSPARENT = frozenset("\"'`<>*\u201c\u201d\u2018\u2019")


def root_verb_noun(instruction: str) -> tuple[str | None, str | None]:
    """(verb, noun) of an instruction, lower-cased; (None, None) when no imperative verb is found.

    >>> root_verb_noun("Given a list of numbers, find the largest prime in it.")
    ('find', 'prime')
    """
    for clause in _CLAUSES.split(instruction.strip())[:_MAX_CLAUSES]:
        words = [t.lower() for t in _TOKENS.findall(clause) if t not in _TRANSPARENT]
        found = _parse_clause(words)
        if found is not None:
            return found
    return None, None


def _parse_clause(words: list[str]) -> tuple[str, str | None] | None:
    words = _strip_prefixes(_drop_leading_clause(words))
    verb, rest = _verb(words)
    if verb is None:
        return None
    return verb, _object_noun(rest)


def _drop_leading_clause(words: list[str]) -> list[str]:
    """Words after the comma that closes a leading adverbial clause (repeatedly: "In this task, you are ...,")."""
    while words and (words[0] in _LEADING_CLAUSE or _starts_with(words, ("you", "are"))) and "," in words:
        words = words[words.index(",") + 1 :]
    return words


def _starts_with(words: list[str], prefix: tuple[str, ...]) -> bool:
    return tuple(words[: len(prefix)]) == prefix


def _strip_prefixes(words: list[str]) -> list[str]:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if _starts_with(words, prefix):
                words, stripped = words[len(prefix) :], True
                break
    return words


def lemmatize_verb(word: str) -> str | None:
    """The known verb a simple inflection stands for ("solving" -> "solve"), else None."""
    if word in KNOWN_VERBS:
        return word
    candidates: list[str] = []
    if word.endswith("ing"):
        stem = word[:-3]
        candidates = [stem, stem + "e", stem[:-1]]
    elif word.endswith("ies"):
        candidates = [word[:-3] + "y"]
    elif word.endswith("es"):
        candidates = [word[:-1], word[:-2]]
    elif word.endswith("s"):
        candidates = [word[:-1]]
    elif word.endswith("ed"):
        candidates = [word[:-1], word[:-2], word[:-3]]
    return next((c for c in candidates if c in KNOWN_VERBS), None)


def _verb(words: list[str]) -> tuple[str | None, list[str]]:
    if not words or not words[0].isalpha():
        return None, words
    first, rest = words[0], words[1:]
    if rest[:1] == [":"]:  # a label ("Question:", "Answer:"), not an imperative
        return None, words
    verb = lemmatize_verb(first)
    if verb is None:
        opens_phrase = bool(rest) and (rest[0] in _DETERMINERS or rest[0] in _PRONOUNS)
        if first in _NON_VERBS or not opens_phrase:
            return None, words
        verb = first
    if verb in _CATENATIVES:
        governed = rest[1:] if rest[:1] and rest[0] in _PRONOUNS else rest
        governed = governed[1:] if governed[:1] == ["to"] else governed
        inner, inner_rest = _verb(governed)
        if inner is not None:
            return inner, inner_rest
    while rest and rest[0] in _PARTICLES:
        rest = rest[1:]
    return verb, rest


def _object_noun(words: list[str]) -> str | None:
    phrase: list[str] = []
    for word in words:
        if not phrase and (word in _PRONOUNS or word in _DETERMINERS or word.isdigit()):
            continue
        if not phrase and word.endswith(("'s", "\u2019s")):
            continue
        if word in _BOUNDARIES or not word[0].isalnum():
            break
        if phrase and word.endswith("ly") and word not in _LY_NOUNS:
            break
        if word.endswith(("'s", "\u2019s")):
            phrase = []  # a possessive ("the student's achievement"): the head comes after it
            continue
        phrase.append(word)
        if len(phrase) == _MAX_PHRASE_WORDS:
            break
    head = phrase[-1] if phrase else None
    if head is None or head in _ADJECTIVES or head in _PRONOUNS or len(head) < 2 or not head[0].isalpha():
        return None
    return singularize(head)


def singularize(noun: str) -> str:
    """Plural to singular by suffix rules only ("subsets" -> "subset", "entities" -> "entity")."""
    if noun in _PLURAL_KEEP or len(noun) <= 3 or noun.endswith(("ss", "us", "is", "'s")):
        return noun
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith(("ches", "shes", "xes", "sses", "zes")):
        return noun[:-2]
    if noun.endswith("s"):
        return noun[:-1]
    return noun
