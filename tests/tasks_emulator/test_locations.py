"""ListLocations / GetLocation through the client's location mixin, over gRPC and REST (what
``gcloud tasks locations list`` calls: GET /v2/projects/P/locations)."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions

from tasks_emulator.locations import REGIONS
from tests.tasks_emulator.conftest import PROJECT, new_queue_name


def test_list_locations_has_the_regions_and_every_location_holding_a_queue(client: Any) -> None:
    location = "zz-" + new_queue_name().rsplit("/", 1)[1]
    client.create_queue(
        parent=f"projects/{PROJECT}/locations/{location}",
        queue={"name": f"projects/{PROJECT}/locations/{location}/queues/loc"},
    )
    response = client.list_locations(request={"name": f"projects/{PROJECT}"})
    ids = [location.location_id for location in response.locations]
    assert ids == sorted(ids)
    assert set(REGIONS) <= set(ids)
    assert location in ids
    us = next(location for location in response.locations if location.location_id == "us-central1")
    assert us.name == f"projects/{PROJECT}/locations/us-central1"
    assert us.labels["cloud.googleapis.com/region"] == "us-central1"


def test_list_locations_pages(client: Any) -> None:
    first = client.list_locations(request={"name": f"projects/{PROJECT}", "page_size": 2})
    assert len(first.locations) == 2
    second = client.list_locations(
        request={"name": f"projects/{PROJECT}", "page_size": 2, "page_token": first.next_page_token}
    )
    assert second.locations[0].location_id > first.locations[1].location_id


def test_get_location(client: Any) -> None:
    got = client.get_location(request={"name": f"projects/{PROJECT}/locations/europe-west1"})
    assert got.location_id == "europe-west1"
    with pytest.raises(exceptions.NotFound):
        client.get_location(request={"name": f"projects/{PROJECT}/locations/nowhere9"})
