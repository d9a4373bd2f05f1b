"""Capability profiles: the operator's narrowing, the choices offered, defaults."""

from __future__ import annotations

import pytest

from bot.capabilities import (
    HD_SIZE,
    SORA_2,
    SORA_2_PRO,
    CapabilityProfile,
    ModelCapability,
    Offer,
    default_model,
    narrowed,
)
from bot.errors import ConfigError
from bot.models import Orientation
from bot.providers import PROVIDERS
from tests.fakes.tasks import make_request

V2 = PROVIDERS["v2"].profile
SORA = PROVIDERS["sora"].profile


def models(*entries: dict[str, object]) -> list[ModelCapability]:
    """Models as an operator writes them in SORA_MODELS."""
    return [ModelCapability.model_validate(e) for e in entries]


def test_no_operator_list_leaves_the_documents_profile():
    assert narrowed(V2, None) is V2


def test_the_operators_lengths_and_hd_are_cut_to_the_dialects():
    profile = narrowed(
        V2,
        models({"name": "sora-2", "seconds": [5, 10, 25], "hd_seconds": [10]}),
    )

    assert profile.models == (ModelCapability(name="sora-2", seconds=(10,)),)


def test_a_renamed_model_keeps_its_member_facing_name_and_sends_the_relays():
    profile = narrowed(
        V2, models({"name": "fast", "sent_as": "sora-2", "seconds": [10]})
    )

    [model] = profile.models
    assert (model.name, model.wire_name, model.seconds) == ("fast", "sora-2", (10,))


def test_a_relay_name_for_a_documented_model_is_sent_on_the_wire():
    profile = narrowed(
        V2,
        models(
            {
                "name": "sora-2-pro",
                "sent_as": "sora2-pro-relay",
                "seconds": [25],
                "hd": True,
            }
        ),
    )

    [model] = profile.models
    assert model.wire_name == "sora2-pro-relay"
    assert model.seconds == (25,)
    # The old "hd": true means HD where the dialect has it: not at 25 s.
    assert model.hd_seconds == ()


def test_a_model_the_dialect_lacks_is_a_config_error_naming_what_it_has():
    with pytest.raises(ConfigError, match=r"sora dialect has no model 'sora-2'.*turbo"):
        narrowed(SORA, models({"name": "sora-2", "seconds": [10]}))


def test_a_model_left_with_no_length_is_a_config_error():
    with pytest.raises(ConfigError, match="takes 5 or 10 seconds"):
        narrowed(SORA, models({"name": "turbo", "seconds": [15]}))


def test_hd_lengths_without_an_hd_size_are_refused():
    with pytest.raises(ValueError, match="HD lengths without an HD size"):
        CapabilityProfile(dialect="x", models=(SORA_2_PRO,))


def test_output_size_follows_orientation_and_where_hd_applies():
    portrait = make_request(
        model="sora-2-pro", seconds=10, hd=True, orientation=Orientation.PORTRAIT
    )
    at_25 = make_request(model="sora-2-pro", seconds=25, hd=True)

    assert V2.output_size(portrait) == (1024, 1792)
    assert V2.output_size(at_25) == (1280, 720)
    assert SORA.output_size(portrait) == (720, 1280)


def test_the_offer_is_the_union_of_the_providers_in_order():
    short = CapabilityProfile(
        dialect="short",
        models=(SORA_2.model_copy(update={"seconds": (5, 10)}),),
        styles=("natural",),
    )
    hd = CapabilityProfile(
        dialect="hd", models=(SORA_2_PRO,), hd_size=HD_SIZE, private=True
    )

    offer = Offer.of([short, hd])

    assert offer.model_names == ("sora-2", "sora-2-pro")
    assert offer.seconds == (5, 10, 15, 25)
    assert (offer.hd, offer.private, offer.styles) == (True, True, ("natural",))
    assert offer.pro_model() == "sora-2-pro"
    assert offer.default_seconds("sora-2") == 5


def test_the_default_model_is_sora_model_or_else_the_first_offered():
    offer = Offer.of([SORA])

    assert default_model(offer, None) == "turbo"
    assert default_model(Offer.of([V2]), "sora-2-pro") == "sora-2-pro"
    with pytest.raises(ConfigError, match=r"SORA_MODEL='sora-2'.*turbo"):
        default_model(offer, "sora-2")
