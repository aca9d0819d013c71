"""ListLocations / GetLocation (``google.cloud.location.Locations``, the client's location mixin).

Production lists the regions Cloud Tasks runs in. The emulator serves any location id, so it
lists the Google Cloud regions below and, besides, every location of the project that holds a
queue here (an id production does not have is still the emulator's to serve).
"""

from __future__ import annotations

from collections.abc import Iterable

from tasks_emulator import api

# Google Cloud regions (cloud.google.com/about/locations) where Cloud Tasks is offered.
REGIONS = (
    "africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2",
    "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
    "australia-southeast1", "australia-southeast2", "europe-central2", "europe-north1",
    "europe-southwest1", "europe-west1", "europe-west2", "europe-west3", "europe-west4",
    "europe-west6", "europe-west8", "europe-west9", "europe-west12", "me-central1", "me-west1",
    "northamerica-northeast1", "northamerica-northeast2", "southamerica-east1",
    "southamerica-west1", "us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
    "us-west1", "us-west2", "us-west3", "us-west4",
)  # fmt: skip


def location_ids(*, project: str, queue_names: Iterable[str]) -> list[str]:
    """Every location id of ``project``: the regions and those holding one of its queues."""
    prefix = f"projects/{project}/locations/"
    used = {
        name.removeprefix(prefix).split("/", 1)[0]
        for name in queue_names
        if name.startswith(prefix)
    }
    return sorted(set(REGIONS) | used)


def location(*, project: str, location_id: str) -> api.Location:
    """A Location as production shapes it."""
    return api.Location(
        name=f"projects/{project}/locations/{location_id}",
        location_id=location_id,
        labels={"cloud.googleapis.com/region": location_id},
    )
