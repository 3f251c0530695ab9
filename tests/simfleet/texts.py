"""What the simulated model writes: varied, parseable answers to the service's prompts, from a seeded RNG.

The answer depends on how the prompt ends, as the prompts of `generators/templates/` end where the model
writes: "Task N:" (continue a numbered list of instructions), "Classification:" (Yes/No), "Input:" (an
input, then "Output: ..."), "Class label:" (a label, then "Input: ..."), "Score:" (a judge's digit) and
"Category:" (a judge's label). Anything else gets a few plain sentences.

Instructions come from templates over word banks (millions of combinations), so most are new and pass the
filters; a few are meant to be rejected, as a real model's are: about 1 in 12 repeats a task the prompt
showed (an exact or near duplicate of a seed or earlier task) and 1 in 25 is too short.
"""

from __future__ import annotations

import math
import random
import re

from tests.simfleet.profiles import tokens_of, words_within

FORMS = ("haiku", "limerick", "short poem", "two-line rhyme", "toast", "short speech", "fable", "riddle",
         "thank-you note", "product description", "travel blurb", "bedtime story", "slogan")  # fmt: skip
ADJECTIVES = ("rusty", "quiet", "crowded", "tiny", "ancient", "noisy", "foggy", "sunny", "hidden", "floating",
              "abandoned", "colourful", "frozen", "busy", "sleepy", "famous", "wooden", "electric", "muddy",
              "secret", "local", "coastal", "mountain", "midnight", "seasonal", "urban", "rural", "family")  # fmt: skip
NOUNS = ("bicycles", "harbours", "bakeries", "libraries", "gardens", "markets", "trains", "lighthouses",
         "museums", "bridges", "festivals", "orchards", "kitchens", "rooftops", "vineyards", "schools", "ferries",
         "campsites", "workshops", "theatres", "beaches", "forests", "stadiums", "cafes",
         "farms", "hotels")  # fmt: skip
PLACES = ("Lisbon", "Kyoto", "Nairobi", "Oslo", "Lima", "Dublin", "Hanoi", "Quebec", "Seville", "Tasmania",
          "the Alps", "Iceland", "Patagonia", "Sicily", "Morocco", "Vermont", "Bavaria", "Cornwall")  # fmt: skip
PEOPLE = ("children", "sailors", "parents", "students", "nurses", "shop owners", "teenagers", "employees",
          "tourists", "gardeners", "engineers", "grandparents", "athletes", "librarians", "farmers",
          "volunteers", "cyclists", "chefs", "pilots", "artists")  # fmt: skip
KINDS = ("young", "retired", "busy", "new", "curious", "local", "visiting", "tired", "ambitious", "nervous")
CONCEPTS = ("compound interest", "photosynthesis", "inflation", "the water cycle", "supply and demand",
            "plate tectonics", "vaccination", "opportunity cost", "erosion", "the greenhouse effect",
            "tides", "bird migration", "recycling", "jet lag", "fermentation", "friction", "echoes")  # fmt: skip
GOALS = ("save energy", "reduce food waste", "sleep better", "learn a language", "save money", "stay focused",
         "make friends", "keep houseplants alive", "cut down on plastic", "prepare for interviews",
         "run a first marathon", "organise a small wedding", "eat more vegetables", "read more books")  # fmt: skip
ACTIVITIES = ("camping", "hosting a dinner party", "moving house", "public speaking", "baking bread",
              "writing a cover letter", "birdwatching", "learning to swim", "negotiating rent",
              "training a puppy", "painting a room", "planning a road trip", "starting a podcast")  # fmt: skip
SETTINGS = ("in winter", "on a tight budget", "with little free time", "in a small flat", "for the first time",
            "with young kids", "in a new city", "after an injury", "during exams", "on weekends")  # fmt: skip
TONES = ("polite", "formal", "friendly", "confident", "cheerful", "concise", "persuasive")
COUNTS = ("three", "four", "five", "six", "two")

# "[a|b|c]" picks one of its phrasings: varied wording keeps instructions of one template apart (ROUGE-L).
TEMPLATES = (
    "[Write|Compose|Draft|Create] a {form} [about|on|inspired by|set among] {topic} for {audience}.",
    "[Explain|Describe|Present|Break down] {concept} to {audience} [using|with|through] {topic} as [an example|a "
    "case|the setting].",
    "[Suggest|Recommend|Give|Name] {count} [ways|ideas|habits|tricks] [that help|for] {audience} [to|who want to] "
    "{goal} {setting}.",
    "[Compare|Discuss|Evaluate] {topic} [and|against|with] {topic2} [for|from the view of] {audience}.",
    "[Give|Offer|Share|List] {count} [tips|pieces of advice|rules|suggestions] for {activity} {setting}.",
    "[Describe|Explain|Tell me] how {concept} [affects|changes|shapes] {topic}.",
    "[List|Outline|Discuss] the [pros and cons|benefits and drawbacks|upsides and risks] of {activity} [near|around|"
    "beside] {topic}.",
    "[Propose|Suggest|Invent|Come up with] a [name|motto|slogan|tagline] for {topic} [run by|owned by|loved by] "
    "{audience}.",
    "[Rewrite|Rephrase|Edit] the following sentence about {topic} [so it sounds|to make it|to be] more {tone}.",
    "[Summarize|Sum up|Outline] what {audience} [should|need to|might want to] know about {concept}.",
    "[Plan|Sketch|Organise] a [weekend|day|week] of {activity} [around|near|among] {topic} for {audience}.",
    "What [mistakes|errors|problems] do {audience} [make|run into|face] when {activity} {setting}?",
    "How can {audience} {goal} [while visiting|near|around] {topic}?",
)  # fmt: skip
# Classification tasks: an instruction with a fixed set of labels; the simulated model knows them by the
# instruction's first words (fixed, unlike the rest of the phrasing).
CLASSIFICATION = (
    ("Classify notes [from|written by] {audience} [about|on] {topic} as formal or informal.", ("Formal", "Informal")),
    ("Label each [review|opinion|rating] of {topic} [by|from] {audience} as positive, negative or neutral.",
     ("Positive", "Negative", "Neutral")),
    ("Tell whether a [remark|line|message] [by|from] {audience} [on|about] {topic} is a question or a statement.",
     ("Question", "Statement")),
    ("Sort [comments|posts|letters] on {topic} [from|by] {audience} into praise or complaint.",
     ("Praise", "Complaint")),
)  # fmt: skip
# An optional second sentence: more words that two instructions rarely share.
EXTRAS = ("", "", "", "Keep it under {count} sentences.", "Use plain words a {kind} reader knows.",
          "Mention {place} once.", "Include one example from {place}.", "Avoid jargon and clichés.",
          "End with a question for {audience}.", "Make the tone {tone}.", "Start with a surprising fact.",
          "Add a short title.", "Number each point.")  # fmt: skip
_PREFIXES = tuple((t.split("[", 1)[0].split("{", 1)[0], labels) for t, labels in CLASSIFICATION)
_CHOICE = re.compile(r"\[([^\]]+)\]")


def _topic(rng: random.Random) -> str:
    place = f" in {rng.choice(PLACES)}" if rng.random() < 0.5 else ""
    return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}{place}"


def _slots(rng: random.Random) -> dict[str, str]:
    return {"form": rng.choice(FORMS), "topic": _topic(rng), "topic2": _topic(rng), "concept": rng.choice(CONCEPTS),
            "audience": f"{rng.choice(KINDS)} {rng.choice(PEOPLE)}", "goal": rng.choice(GOALS),
            "activity": rng.choice(ACTIVITIES), "setting": rng.choice(SETTINGS), "tone": rng.choice(TONES),
            "count": rng.choice(COUNTS), "place": rng.choice(PLACES), "kind": rng.choice(KINDS)}  # fmt: skip


THINGS = ("plan", "budget", "schedule", "recipe", "list", "routine", "neighbour", "teacher", "shopping route",
          "checklist", "notebook", "team", "garden", "kitchen", "library card", "calendar", "window",
          "bus pass")  # fmt: skip
GERUNDS = ("writing down", "checking", "sharing", "comparing", "setting aside", "reviewing", "sorting",
           "planning", "trying", "measuring", "noting", "asking about", "preparing", "cleaning")  # fmt: skip
QUALITIES = ("simple", "weekly", "careful", "small", "clear", "shared", "quiet", "early", "honest", "steady")
OPENERS = ("Start by", "Then try", "It also helps to keep", "Most people succeed by", "A good habit is",
           "Remember that", "After that, consider", "Finally, focus on", "Experts recommend", "Begin with")  # fmt: skip
SUBJECTS = ("The staff", "My neighbour", "The new manager", "Our guide", "The waiter", "The museum",
            "This phone", "The hotel", "The course", "The delivery")  # fmt: skip
VERDICTS = ("was wonderful and kind", "arrived late and broken", "felt slow but fair", "exceeded every hope",
            "ignored our questions", "made the trip easy", "cost far too much",
            "was fine, nothing special")  # fmt: skip

_TASK_LINE = re.compile(r"^Task(?: \d+)?: (.+)$", re.MULTILINE)


def instruction(rng: random.Random) -> str:
    template = rng.choice(CLASSIFICATION)[0] if rng.random() < 0.15 else rng.choice(TEMPLATES)
    worded = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    extra = rng.choice(EXTRAS)
    return (f"{worded} {extra}" if extra else worded).format(**_slots(rng))


def classification_labels(text: str) -> tuple[str, ...] | None:
    return next((labels for prefix, labels in _PREFIXES if text.startswith(prefix)), None)


def _sentence(rng: random.Random) -> str:
    return (f"{rng.choice(OPENERS)} {rng.choice(GERUNDS)} the {rng.choice(QUALITIES)} {rng.choice(THINGS)} "
            f"and {rng.choice(GERUNDS)} your {rng.choice(THINGS)}.")  # fmt: skip


def _review(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERDICTS)}, and the {rng.choice(THINGS)} was {rng.choice(QUALITIES)}."


def _listed(prompt: str, rng: random.Random) -> str:
    """A continuation of "Task N:": 1 to 6 instructions on numbered lines, then a blank line."""
    number = int(prompt.rsplit("Task ", 1)[1].split(":", 1)[0])
    shown = _TASK_LINE.findall(prompt)
    items = []
    for _ in range(rng.randint(1, 6)):
        roll = rng.random()
        if roll < 0.08 and shown:  # a task the prompt showed, again: the dedup screen must catch it
            items.append(rng.choice(shown))
        elif roll < 0.12:
            items.append(rng.choice(("Sing.", "Be nice.", "Think about it.")))  # too short
        else:
            items.append(instruction(rng))
    lines = [f" {items[0]}"] + [f"Task {number + n}: {text}" for n, text in enumerate(items[1:], start=1)]
    return "\n".join(lines) + "\n\nThat is the list."


def _task_of(prompt: str) -> str:
    return prompt.rsplit("Task:", 1)[1].split("\n", 1)[0].strip()


def _instance(prompt: str, rng: random.Random) -> str:
    """Input-first: an input (or None), then the output, for the last task of the prompt."""
    task = _task_of(prompt)
    given = _review(rng) if "following" in task else ("None" if rng.random() < 0.6 else _sentence(rng))
    output = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
    return f" {given}\nOutput: {output}\n\nTask: something else"


def _labelled(prompt: str, rng: random.Random) -> str:
    """Output-first: a class label, then an input with that label."""
    labels = classification_labels(_task_of(prompt)) or ("Yes", "No")
    return f" {rng.choice(labels)}\nInput: {_review(rng)}\n\nTask: something else"


def _category(prompt: str, rng: random.Random) -> str:
    listed = re.search(r"categories: (.+?)\.\n", prompt)
    names = [n.strip() for n in listed.group(1).split(",")] if listed else ["other"]
    return f" {rng.choice(names)}\n"


def answer(prompt: str, rng: random.Random) -> str:
    """The simulated model's whole answer; the server then applies `stop` and `max_tokens`."""
    tail = prompt[-40:]
    if re.search(r"Task \d+:$", tail):
        return _listed(prompt, rng)
    if tail.endswith("Classification:"):
        return " Yes\n" if classification_labels(_task_of(prompt)) else " No\n"
    if tail.endswith("Class label:"):
        return _labelled(prompt, rng)
    if tail.endswith("Input:"):
        return _instance(prompt, rng)
    if tail.endswith("Score:"):
        return f" {rng.choice('34455')}\n"
    if tail.endswith("Category:"):
        return _category(prompt, rng)
    return " " + " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))


_PIECE = re.compile(r"\s*\S+")


def finish(text: str, stop: list[str], max_tokens: int) -> tuple[list[str], str]:
    """The answer cut at the first stop string and at `max_tokens`: its word pieces and the finish reason.

    Pieces keep their leading whitespace, so joining them gives the text back; a piece is a word, and
    counts `TOKENS_PER_WORD` tokens (see `profiles.tokens_of`).
    """
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if cuts:
        text = text[: min(cuts)]
    pieces = _PIECE.findall(text)
    most = words_within(max_tokens)
    if len(pieces) > most:
        return pieces[:most], "length"
    return pieces, "stop"


def score_logprobs(digit: str) -> dict[str, float]:
    """A judge's top log-probabilities at its score token: most mass on the sampled digit."""
    weights = {d: (0.6 if d == digit else 0.1) for d in "12345"}
    return {f" {d}": round(math.log(w), 4) for d, w in weights.items()}


def piece_tokens(pieces: list[str]) -> int:
    return tokens_of(len(pieces))
