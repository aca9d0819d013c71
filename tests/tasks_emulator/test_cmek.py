"""GetCmekConfig / UpdateCmekConfig through the official client, over gRPC and REST: stored and
shaped as production's (nothing is encrypted locally)."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions

from tests.tasks_emulator.conftest import PROJECT

KEY = "projects/{p}/locations/{l}/keyRings/ring/cryptoKeys/key"


@pytest.fixture
def config_name(client: Any, request: pytest.FixtureRequest) -> str:
    # A location of each test's own (the config is per project and location).
    location = "cmek-" + request.node.name.split("[")[0][-20:].replace("_", "-") + "-"
    location += request.node.callspec.params["client"]
    return f"projects/{PROJECT}/locations/{location}/cmekConfig"


def _location(config_name: str) -> str:
    return config_name.split("/")[3]


def test_a_config_never_set_has_no_key(client: Any, config_name: str) -> None:
    got = client.get_cmek_config(name=config_name)
    assert got.name == config_name
    assert got.kms_key == ""


def test_update_stores_the_key_and_an_empty_key_turns_it_off(client: Any, config_name: str) -> None:
    key = KEY.format(p=PROJECT, l=_location(config_name))
    updated = client.update_cmek_config(
        cmek_config={"name": config_name, "kms_key": key}, update_mask={"paths": ["kms_key"]}
    )
    assert (updated.name, updated.kms_key) == (config_name, key)
    assert client.get_cmek_config(name=config_name).kms_key == key
    client.update_cmek_config(cmek_config={"name": config_name, "kms_key": ""})
    assert client.get_cmek_config(name=config_name).kms_key == ""


@pytest.mark.parametrize(
    ("kms_key", "paths", "message"),
    [
        ("not-a-key", [], "must be of the form"),
        (KEY.format(p=PROJECT, l="elsewhere"), [], "must be in the config's location"),
        ("", ["name"], "only 'kms_key' is"),
    ],
    ids=["malformed", "other-location", "mask"],
)
def test_bad_updates_are_invalid_argument_and_change_nothing(
    client: Any, config_name: str, kms_key: str, paths: list[str], message: str
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        client.update_cmek_config(
            cmek_config={"name": config_name, "kms_key": kms_key}, update_mask={"paths": paths}
        )
    assert message in caught.value.message
    assert client.get_cmek_config(name=config_name).kms_key == ""
