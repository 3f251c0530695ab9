from __future__ import annotations

import pytest

from domain.licenses import DISCLAIMER, LicenceWarning, classify, licence_warnings


@pytest.mark.parametrize(
    ("licence", "kind"),
    [
        ("Apache-2.0", "permissive"),
        ("apache-2.0", "permissive"),  # Hugging Face's lowercase tags read like SPDX ids
        ("MIT", "permissive"),
        ("BSD-3-Clause", "permissive"),
        ("CC0-1.0", "permissive"),
        ("CC-BY-4.0", "attribution"),
        ("ODC-By-1.0", "attribution"),
        ("odc-by", "attribution"),
        ("CC-BY-SA-3.0", "share_alike"),
        ("CC-BY-SA-4.0", "share_alike"),
        ("GPL-3.0-only", "share_alike"),
        ("LGPL-2.1-or-later", "share_alike"),
        ("CC-BY-NC-4.0", "non_commercial"),
        ("CC-BY-NC-SA-4.0", "non_commercial"),
        ("CC-BY-NC-ND-4.0", "no_derivatives"),
        ("CC-BY-ND-4.0", "no_derivatives"),
        ("openrail", "use_restricted"),
        ("bigscience-openrail-m", "use_restricted"),
        ("other", "unknown"),
        ("NOASSERTION", "unknown"),
        ("Some-Custom-1.0", "unknown"),
    ],
)
def test_each_common_licence_has_its_kind(licence: str, kind: str) -> None:
    assert classify(licence).kind == kind


def test_creative_commons_elements_are_each_a_flag() -> None:
    terms = classify("CC-BY-NC-SA-4.0")
    assert (terms.attribution, terms.non_commercial, terms.share_alike) == (True, True, True)
    assert not terms.no_derivatives
    assert terms.share_alike_licenses == ("CC-BY-NC-SA-4.0",) and terms.known


def test_or_lets_the_licensee_pick_and_and_applies_both() -> None:
    either = classify("MIT OR CC-BY-NC-4.0")
    assert either.kind == "permissive" and either.license == "MIT OR CC-BY-NC-4.0"
    both = classify("MIT AND CC-BY-NC-4.0")
    assert both.kind == "non_commercial" and both.attribution and both.known
    assert classify("Apache-2.0 WITH LLVM-exception").kind == "permissive"
    assert classify("CC-BY-4.0 AND NOASSERTION").kind == "unknown"
    assert classify("NOASSERTION OR CC-BY-4.0").kind == "attribution"  # the known choice


def codes(warnings: list[LicenceWarning]) -> list[str]:
    return [w.code for w in warnings]


def test_a_non_commercial_source_taints_the_mix_and_attribution_lists_who() -> None:
    warnings = licence_warnings([("alpaca", "CC-BY-NC-4.0", 52002), ("oasst", "Apache-2.0", 100),
                                 ("dolly", "CC-BY-SA-3.0", 15011)])  # fmt: skip
    assert codes(warnings) == ["non_commercial", "share_alike_non_commercial", "attribution_required"]
    assert warnings[0] == LicenceWarning(
        code="non_commercial", sources=("alpaca",),
        message="the mix inherits a non-commercial licence from alpaca (CC-BY-NC-4.0, 52,002 tasks): no commercial "
        "use of the mix or of what is trained on it without the rights holders' permission",
    )  # fmt: skip
    assert warnings[1].sources == ("dolly", "alpaca")
    assert warnings[2].sources == ("alpaca", "dolly")  # both CC licences ask for credit; Apache-2.0 is permissive


def test_no_derivatives_unknown_and_two_share_alike_licences() -> None:
    warnings = licence_warnings([("a", "CC-BY-NC-ND-4.0", 10), ("b", "NOASSERTION", 5), ("c", "CC-BY-SA-4.0", 3),
                                 ("d", "GPL-3.0-only", 2), ("e", "other", 1)])  # fmt: skip
    assert codes(warnings) == ["non_commercial", "no_derivatives", "share_alike_conflict",
                               "share_alike_non_commercial", "unknown_licence", "attribution_required"]  # fmt: skip
    by_code = {w.code: w for w in warnings}
    assert by_code["no_derivatives"].sources == ("a",)
    assert by_code["share_alike_conflict"].sources == ("c", "d")
    assert by_code["unknown_licence"].sources == ("b", "e")
    assert "NOASSERTION, 5 tasks" in by_code["unknown_licence"].message


def test_one_share_alike_licence_or_nc_sa_alone_is_no_conflict() -> None:
    assert codes(licence_warnings([("a", "CC-BY-SA-4.0", 3), ("b", "cc-by-sa-4.0", 3)])) == ["attribution_required"]
    assert codes(licence_warnings([("a", "CC-BY-NC-SA-4.0", 3)])) == ["non_commercial", "attribution_required"]


def test_permissive_only_mixes_earn_no_warning_and_empty_sources_none() -> None:
    assert licence_warnings([("a", "MIT", 5), ("b", "Apache-2.0", 7), ("c", "CC-BY-NC-4.0", 0)]) == []


def test_seed_and_generated_get_their_own_notes_not_the_unknown_warning() -> None:
    warnings = licence_warnings([("generated", "NOASSERTION", 40), ("seed", "NOASSERTION", 175)])
    assert codes(warnings) == ["generated_terms", "seed_terms"]
    assert warnings[0].message.startswith("generated (40 tasks): model output: its terms follow the licence")
    assert warnings[1].sources == ("seed",)
    assert "not legal advice" in DISCLAIMER
