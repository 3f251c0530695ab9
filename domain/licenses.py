"""What the licences of a training mix's sources ask of it: SPDX ids and expressions read into terms, and the
warnings a mix of them earns (pure, no I/O).

The terms are the ones the licence names say (CC's BY/SA/NC/ND elements, copyleft families, RAIL use
restrictions); the warnings are factual notes for a person to check, not legal advice. An expression is read the
SPDX way: `A OR B` lets the licensee choose (the less restrictive side counts), `A AND B` applies both, `A WITH
exception` is `A`. Ids compare case-insensitively, so Hugging Face's lowercase tags (`cc-by-nc-4.0`, `odc-by`,
`openrail`, `other`) read like SPDX's.

"seed" and "generated" tasks have no import, so no recorded licence: they are reported as NOASSERTION and earn
their own note instead of the unknown-licence warning. Generated data's terms follow the licence (and usage
policy) of the model that wrote it, which the manifest names under `generation`; uploaded seed sets keep the
licence they came with, which the upload does not record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from domain.imports import UNKNOWN_LICENSE
from domain.records import GENERATED_SOURCE, SEED_SOURCE

LicenceKind = Literal[
    "permissive", "attribution", "share_alike", "use_restricted", "non_commercial", "no_derivatives", "unknown"
]
# The order a licence's kind is picked in: its most restrictive term names it.
_KIND_ORDER: tuple[LicenceKind, ...] = (
    "unknown", "no_derivatives", "non_commercial", "use_restricted", "share_alike", "attribution", "permissive",
)  # fmt: skip
DISCLAIMER = (
    "Licence notes are read from the SPDX ids the imports declared; they are not legal advice: check each "
    "source's terms before you use or publish a mix."
)

_PERMISSIVE = {
    "apache-2.0", "mit", "mit-0", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "0bsd", "isc", "zlib",
    "bsl-1.0", "unlicense", "cc0-1.0", "pddl-1.0", "odc-pddl-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0",
    "wtfpl", "python-2.0", "postgresql", "upl-1.0", "afl-3.0",
}  # fmt: skip
_ATTRIBUTION = {"odc-by-1.0", "odc-by", "cc-by-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0"}
_SHARE_ALIKE = {
    "odbl-1.0", "odbl", "cdla-sharing-1.0", "mpl-2.0", "epl-1.0", "epl-2.0", "eupl-1.1", "eupl-1.2", "cecill-2.1",
    "osl-3.0", "gfdl-1.3", "gfdl-1.3-only", "gfdl-1.3-or-later", "gfdl-1.2",
}  # fmt: skip
_COPYLEFT = re.compile(r"^(a|l)?gpl-[23](\.[01])?(-only|-or-later|\+)?$")
# Creative Commons: cc-by[-nc][-nd|-sa]-VERSION (with a port suffix sometimes: cc-by-sa-3.0-igo)
_CREATIVE_COMMONS = re.compile(r"^cc-by(?P<nc>-nc)?(?P<nd>-nd)?(?P<sa>-sa)?-\d\.\d(-[a-z]+)?$")
_RAIL = re.compile(r"^([a-z-]+-)?(open)?rail(\+\+|-[a-z]+)*(-\d\.\d)?$")


class LicenceTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What a licence (or an expression) asks: each term a flag; `kind` names the most restrictive one."""

    license: str
    kind: LicenceKind
    known: bool = True
    attribution: bool = False
    share_alike: bool = False
    non_commercial: bool = False
    no_derivatives: bool = False
    use_restrictions: bool = False  # RAIL licences: uses a derived work must forbid too
    share_alike_licenses: tuple[str, ...] = ()  # the share-alike parts, which a derived work must adopt


class LicenceWarning(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    sources: tuple[str, ...]


def _kind(flags: dict[str, bool]) -> LicenceKind:
    present = {
        "unknown": not flags["known"], "no_derivatives": flags["no_derivatives"],
        "non_commercial": flags["non_commercial"], "use_restricted": flags["use_restrictions"],
        "share_alike": flags["share_alike"], "attribution": flags["attribution"], "permissive": True,
    }  # fmt: skip
    return next(kind for kind in _KIND_ORDER if present[kind])


def _terms(license: str, share_alike_licenses: tuple[str, ...] = (), **flags: bool) -> LicenceTerms:
    every = {"known": True, "attribution": False, "share_alike": False, "non_commercial": False,
             "no_derivatives": False, "use_restrictions": False, **flags}  # fmt: skip
    return LicenceTerms(license=license, kind=_kind(every), share_alike_licenses=share_alike_licenses, **every)


def _single(license: str) -> LicenceTerms:
    name = license.strip().lower()
    if name in _PERMISSIVE:
        return _terms(license)
    if name in _ATTRIBUTION:
        return _terms(license, attribution=True)
    if name in _SHARE_ALIKE or _COPYLEFT.match(name):
        return _terms(license, (license,), share_alike=True)
    if match := _CREATIVE_COMMONS.match(name):
        sa = bool(match["sa"])
        return _terms(license, (license,) if sa else (), attribution=True, share_alike=sa,
                      non_commercial=bool(match["nc"]), no_derivatives=bool(match["nd"]))  # fmt: skip
    if _RAIL.match(name):
        return _terms(license, use_restrictions=True)
    return _terms(license, known=False)  # NOASSERTION, "other", "unknown", anything not listed


def _restriction(terms: LicenceTerms) -> int:
    return _KIND_ORDER[::-1].index(terms.kind)


def _all_of(license: str, parts: Sequence[LicenceTerms]) -> LicenceTerms:
    flags = {
        name: any(getattr(p, name) for p in parts)
        for name in ("attribution", "share_alike", "non_commercial", "no_derivatives", "use_restrictions")
    }
    shared = tuple(dict.fromkeys(s for p in parts for s in p.share_alike_licenses))
    return _terms(license, shared, known=all(p.known for p in parts), **flags)  # fmt: skip


def classify(license: str) -> LicenceTerms:
    """The terms of an SPDX id or expression (`MIT OR Apache-2.0`, `CC-BY-4.0 AND ODC-By-1.0`, ...)."""
    text = license.replace("(", " ").replace(")", " ")
    options = []
    for option in re.split(r"\s+OR\s+", text.strip(), flags=re.IGNORECASE):
        parts = [_single(re.split(r"\s+WITH\s+", part, flags=re.IGNORECASE)[0])
                 for part in re.split(r"\s+AND\s+", option.strip(), flags=re.IGNORECASE)]  # fmt: skip
        options.append(parts[0] if len(parts) == 1 else _all_of(option.strip(), parts))
    chosen = min(options, key=_restriction)  # an OR lets the licensee pick
    return chosen if len(options) == 1 else msgspec.structs.replace(chosen, license=license)


def _named(entries: Iterable[tuple[str, str, int]]) -> str:
    return ", ".join(f"{source} ({licence}, {_tasks(count)})" for source, licence, count in entries)


def _tasks(count: int) -> str:
    return f"{count:,} task{'' if count == 1 else 's'}"


def _sources(entries: Iterable[tuple[str, str, int]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(source for source, _, _ in entries))


def licence_warnings(sources: Sequence[tuple[str, str, int]]) -> list[LicenceWarning]:
    """Notes on a mix of `(source, licence, tasks)`: a source may appear once per licence it was imported under."""
    rows = [(s, lic, n, classify(lic)) for s, lic, n in sources if n > 0]
    imported = [r for r in rows if r[0] not in (SEED_SOURCE, GENERATED_SOURCE)]
    pick = lambda test: [(s, lic, n) for s, lic, n, t in imported if test(t)]  # noqa: E731
    warnings: list[LicenceWarning] = []

    def add(code: str, entries: list[tuple[str, str, int]], message: str) -> None:
        if entries:
            warnings.append(LicenceWarning(code=code, message=message, sources=_sources(entries)))

    nc = pick(lambda t: t.non_commercial)
    add("non_commercial", nc, f"the mix inherits a non-commercial licence from {_named(nc)}: no commercial use of "
        "the mix or of what is trained on it without the rights holders' permission")  # fmt: skip
    nd = pick(lambda t: t.no_derivatives)
    add("no_derivatives", nd, f"{_named(nd)}: a no-derivatives licence; a training mix built from it is an "
        "adaptation that the licence may not allow")  # fmt: skip
    sa = pick(lambda t: t.share_alike)
    if len({lic.lower() for t in (r[3] for r in imported if r[3].share_alike) for lic in t.share_alike_licenses}) > 1:
        add("share_alike_conflict", sa, f"different share-alike licences in one mix: {_named(sa)}; each asks that a "
            "derived work be shared under its own terms: check that they are compatible")  # fmt: skip
    free_sa = pick(lambda t: t.share_alike and not t.non_commercial)
    other_nc = [e for e in nc if e[0] not in {s for s, _, _ in free_sa}]
    if free_sa and other_nc:
        add("share_alike_non_commercial", free_sa + other_nc, f"share-alike {_named(free_sa)} asks that a derived "
            f"work allow what its licence allows (commercial use), while {_named(other_nc)} forbids commercial use: "
            "the two cannot both hold for one derived mix")  # fmt: skip
    rail = pick(lambda t: t.use_restrictions)
    add("use_restrictions", rail, f"{_named(rail)}: a responsible-AI licence whose use restrictions a derived work "
        "must carry on")  # fmt: skip
    unknown = pick(lambda t: not t.known)
    add("unknown_licence", unknown, f"no recognised licence for {_named(unknown)} ({UNKNOWN_LICENSE} or an id "
        "not listed): the terms are unknown")  # fmt: skip
    credit = pick(lambda t: t.attribution)
    add("attribution_required", credit, f"credit is required for {_named(credit)}: name the source, its "
        "licence and link when you share the mix or a derived work")  # fmt: skip
    return warnings + _unrecorded(rows)


def _unrecorded(rows: list[tuple[str, str, int, LicenceTerms]]) -> list[LicenceWarning]:
    """Seed and generated tasks: no import records a licence for them."""
    notes = []
    for source, note in ((GENERATED_SOURCE, "model output: its terms follow the licence and usage policy of the "
                          "model that wrote it (named under `generation`)"),
                         (SEED_SOURCE, "uploaded seed tasks: the upload records no licence; they keep the one "
                          "they came with")):  # fmt: skip
        count = sum(n for s, _, n, _ in rows if s == source)
        if count:
            notes.append(LicenceWarning(code=f"{source}_terms", message=f"{source} ({_tasks(count)}): {note}",
                                        sources=(source,)))  # fmt: skip
    return notes
