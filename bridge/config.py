"""Configuration: read once from the environment at cold start, validated, immutable.

The old enqueuer's variables work unchanged (``PROJECT_ID``, ``TASKS_REGION``, ``CALLER_SA`` and,
per service, ``QUEUE_<S>``, ``URL_<S>``, ``AUD_<S>``, ``DEADLINE_<S>_S``). Which services exist,
and which suffix ``<S>`` each one reads, comes from ``BRIDGE_SERVICES``: adding a service is a
configuration change, never a code change. Every problem raises ``ConfigError`` naming the variable.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import SplitResult, urlsplit

from bridge.errors import ConfigError
from bridge.limits import (
    DEFAULT_DEADLINE_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PUBLISH_TIMEOUT_S,
    DEFAULT_TASKS_TIMEOUT_S,
    MAX_DEADLINE_S,
    MAX_MAX_BODY_BYTES,
    MAX_QUEUE_ID_CHARS,
    MAX_TIMEOUT_S,
    MAX_URL_CHARS,
    MIN_DEADLINE_S,
    MIN_MAX_BODY_BYTES,
    MIN_TIMEOUT_S,
)

DEFAULT_SERVICES = "brain:BRAIN,testimonios:TESTI,transcripciones:TRANS,regresos:REGRESOS"
DEFAULT_REGION = "us-central1"

# Variables read once for the whole process.
GLOBAL_VARIABLES = (
    "PROJECT_ID",
    "TASKS_REGION",
    "CALLER_SA",
    "BRIDGE_SERVICES",
    "REJECTED_TOPIC",
    "DROP_REJECTED",
    "MAX_BODY_BYTES",
    "TASKS_TIMEOUT_S",
    "PUBLISH_TIMEOUT_S",
)
# Local development only: never set in a deployment.
EMULATOR_VARIABLES = ("CLOUD_TASKS_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")
# Set by the platform (the buildpack / functions-framework), never by the deployment.
FUNCTION_TARGET_VARIABLE = "FUNCTION_TARGET"
HTTP_TARGET = "enqueue_http"  # the old enqueuer's POST /enqueue; any other target is Pub/Sub
# Every variable of these families belongs to a configured service: any other is a typo.
SERVICE_FAMILIES = ("QUEUE_", "URL_", "AUD_", "DEADLINE_")
_NEAR_MISS_RATIO = 0.85  # TASK_REGION, REJECTED_TOPICS; not PORT, K_SERVICE or GCP_PROJECT

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_SUFFIX = re.compile(r"^[A-Z][A-Z0-9_]{0,62}$")
_QUEUE_ID = re.compile(rf"^[A-Za-z0-9-]{{1,{MAX_QUEUE_ID_CHARS}}}$")
# 6-30 lowercase letters, digits, hyphens; a letter first, no hyphen last; legacy "domain:" prefix.
_PROJECT_ID = re.compile(r"^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOPIC = re.compile(r"^(projects/[^/\s]+/topics/)?[A-Za-z][A-Za-z0-9._~%+-]{2,254}$")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def service_variables(suffix: str) -> tuple[str, str, str, str]:
    """The four variables one service reads, in the old enqueuer's spelling."""
    return (f"QUEUE_{suffix}", f"URL_{suffix}", f"AUD_{suffix}", f"DEADLINE_{suffix}_S")


@dataclass(frozen=True, slots=True)
class Route:
    """Where one service's tasks go."""

    service: str
    queue_id: str
    queue_path: str  # projects/P/locations/L/queues/Q
    url: str
    audience: str
    deadline_s: int


@dataclass(frozen=True, slots=True)
class Settings:
    project_id: str
    region: str
    caller_sa: str
    routes: Mapping[str, Route]
    rejected_topic: str | None  # full path projects/P/topics/T, or None when dropping is opted in
    drop_rejected: bool
    max_body_bytes: int
    tasks_timeout_s: float  # one CreateTask call
    publish_timeout_s: float  # one rejection published to REJECTED_TOPIC
    tasks_emulator_host: str | None
    function_target: str  # which entry point this instance serves (FUNCTION_TARGET)

    @property
    def service_names(self) -> list[str]:
        return sorted(self.routes)

    @property
    def rejects_to_a_topic(self) -> bool:
        """Only the Pub/Sub entry rejects to a topic: the HTTP entry answers the caller."""
        return self.function_target != HTTP_TARGET


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate the whole configuration; raises ``ConfigError`` naming the variable."""
    project_id = _required(environ, "PROJECT_ID")
    if not _PROJECT_ID.match(project_id):
        raise ConfigError("PROJECT_ID", f"{project_id!r} is not a Google Cloud project id")
    region = environ.get("TASKS_REGION", "").strip() or DEFAULT_REGION
    if not _REGION.match(region):
        raise ConfigError("TASKS_REGION", f"{region!r} is not a region such as us-central1")
    caller_sa = _required(environ, "CALLER_SA")
    if not _EMAIL.match(caller_sa):
        raise ConfigError("CALLER_SA", f"{caller_sa!r} is not a service account email")

    services = parse_services(environ.get("BRIDGE_SERVICES", DEFAULT_SERVICES))
    check_unknown_variables(environ, services)
    routes = {
        service: _load_route(environ, service, suffix, project_id=project_id, region=region)
        for service, suffix in services
    }
    drop_rejected = _flag(environ, "DROP_REJECTED")
    rejected_topic = _topic_path(environ, "REJECTED_TOPIC", project_id)
    if rejected_topic and drop_rejected:
        raise ConfigError("DROP_REJECTED", "set it only when REJECTED_TOPIC is not set")
    return Settings(
        project_id=project_id,
        region=region,
        caller_sa=caller_sa,
        routes=MappingProxyType(routes),
        rejected_topic=rejected_topic,
        drop_rejected=drop_rejected,
        max_body_bytes=_int(
            environ,
            "MAX_BODY_BYTES",
            default=DEFAULT_MAX_BODY_BYTES,
            low=MIN_MAX_BODY_BYTES,
            high=MAX_MAX_BODY_BYTES,
        ),
        tasks_timeout_s=_float(
            environ,
            "TASKS_TIMEOUT_S",
            default=DEFAULT_TASKS_TIMEOUT_S,
            low=MIN_TIMEOUT_S,
            high=MAX_TIMEOUT_S,
        ),
        publish_timeout_s=_float(
            environ,
            "PUBLISH_TIMEOUT_S",
            default=DEFAULT_PUBLISH_TIMEOUT_S,
            low=MIN_TIMEOUT_S,
            high=MAX_TIMEOUT_S,
        ),
        tasks_emulator_host=environ.get("CLOUD_TASKS_EMULATOR_HOST", "").strip() or None,
        function_target=environ.get(FUNCTION_TARGET_VARIABLE, "").strip(),
    )


def require_rejection_sink(settings: Settings) -> None:
    """Raised-if-missing check for the Pub/Sub entry point, which must never drop silently."""
    if settings.rejected_topic is None and not settings.drop_rejected:
        raise ConfigError(
            "REJECTED_TOPIC",
            "not set: rejected messages need a topic to go to "
            "(or set DROP_REJECTED=true to drop them after an ERROR log, not recommended)",
        )


def parse_services(value: str) -> list[tuple[str, str]]:
    """``"brain:BRAIN,regresos:REGRESOS"`` -> ``[("brain", "BRAIN"), ("regresos", "REGRESOS")]``."""
    pairs: list[tuple[str, str]] = []
    for item in value.split(","):
        name, sep, suffix = item.strip().partition(":")
        if not sep or not SERVICE_NAME.match(name) or not _SUFFIX.match(suffix):
            raise ConfigError(
                "BRIDGE_SERVICES",
                f"{item.strip()!r} is not 'name:SUFFIX' (name like 'brain', SUFFIX like 'BRAIN')",
            )
        pairs.append((name, suffix))
    for index, column in ((0, "service name"), (1, "suffix")):
        seen = [pair[index] for pair in pairs]
        if dupes := sorted({x for x in seen if seen.count(x) > 1}):
            raise ConfigError("BRIDGE_SERVICES", f"repeated {column}: {', '.join(dupes)}")
    return pairs


def check_unknown_variables(environ: Mapping[str, str], services: list[tuple[str, str]]) -> None:
    """Raised if a variable looks like ours but is not read: ``ConfigError`` naming it and what
    it probably meant. A typo would otherwise be ignored (``TASK_REGION``: every CreateTask goes
    to us-central1). Only our families and near misses of our names: Cloud Run sets many more."""
    per_service = [v for _, suffix in services for v in service_variables(suffix)]
    known = {*GLOBAL_VARIABLES, *EMULATOR_VARIABLES, FUNCTION_TARGET_VARIABLE, *per_service}
    suffixes = ", ".join(suffix for _, suffix in services)
    for name in sorted(environ):
        if name in known:
            continue
        if name.startswith(SERVICE_FAMILIES):
            guess = difflib.get_close_matches(name, per_service, n=1, cutoff=0.6)
            hint = f"did you mean {guess[0]}?" if guess else "remove it, or add its service"
            raise ConfigError(
                name,
                f"matches no service of BRIDGE_SERVICES (suffixes {suffixes}): {hint}",
            )
        if meant := _near_miss(name, known):
            raise ConfigError(name, f"is not a variable the bridge reads: did you mean {meant}?")


def _near_miss(name: str, known: set[str]) -> str | None:
    for candidate in sorted(known):
        if name.upper() == candidate or name.startswith(candidate + "_"):
            return candidate
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=_NEAR_MISS_RATIO)
    return close[0] if close else None


def _load_route(
    environ: Mapping[str, str], service: str, suffix: str, *, project_id: str, region: str
) -> Route:
    queue_var, url_var, aud_var, deadline_var = service_variables(suffix)
    queue_id = _required(environ, queue_var)
    if not _QUEUE_ID.match(queue_id):
        raise ConfigError(
            queue_var,
            f"{queue_id!r} is not a queue id ([A-Za-z0-9-], 1-{MAX_QUEUE_ID_CHARS} chars)",
        )
    url = _required(environ, url_var)
    _check_url(url_var, url)
    audience = environ.get(aud_var, "").strip() or _origin(url)
    _check_audience(aud_var, audience)
    deadline_s = _int(
        environ, deadline_var, default=DEFAULT_DEADLINE_S, low=MIN_DEADLINE_S, high=MAX_DEADLINE_S
    )
    return Route(
        service=service,
        queue_id=queue_id,
        queue_path=f"projects/{project_id}/locations/{region}/queues/{queue_id}",
        url=url,
        audience=audience,
        deadline_s=deadline_s,
    )


def _check_url(variable: str, url: str) -> None:
    parts = _split_url(variable, url)
    shown = _redacted(url)
    if len(url) > MAX_URL_CHARS:
        raise ConfigError(variable, f"longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() for c in url) or not parts.hostname:
        raise ConfigError(variable, f"{shown!r} is not an absolute URL")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return  # the local stack's workers
    raise ConfigError(variable, f"{shown!r} must be https (plain http only for loopback hosts)")


def _check_audience(variable: str, audience: str) -> None:
    parts = _split_url(variable, audience)
    if any(c.isspace() for c in audience):
        raise ConfigError(variable, "must not contain whitespace")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            variable, f"{_redacted(audience)!r} is not an absolute http(s) URL (an OIDC audience)"
        )


def _split_url(variable: str, url: str) -> SplitResult:
    """The URL's parts; raised if it has credentials or an invalid port (never echoing them)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not 0-65535 digits
    except ValueError:
        raise ConfigError(variable, "is not a valid URL (check the host and port)") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            variable,
            f"{_redacted(url)!r} carries credentials (user:password@): the worker is "
            "authenticated by the OIDC token, never by credentials in the URL",
        )
    return parts


def _redacted(url: str) -> str:
    """``url`` with any ``user:password@`` replaced: errors never echo a credential."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if "@" not in url else "<redacted>"
    host_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc = rest[:host_end]
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return f"{scheme}://{netloc}{rest[host_end:]}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _topic_path(environ: Mapping[str, str], variable: str, project_id: str) -> str | None:
    value = environ.get(variable, "").strip()
    if not value:
        return None
    if not _TOPIC.match(value):
        raise ConfigError(variable, f"{value!r} is neither a topic id nor projects/P/topics/T")
    return value if value.startswith("projects/") else f"projects/{project_id}/topics/{value}"


def _required(environ: Mapping[str, str], variable: str) -> str:
    value = environ.get(variable, "").strip()
    if not value:
        raise ConfigError(variable, "is required and not set")
    return value


def _flag(environ: Mapping[str, str], variable: str) -> bool:
    value = environ.get(variable, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ConfigError(variable, f"{value!r} is not true or false")


def _int(environ: Mapping[str, str], variable: str, *, default: int, low: int, high: int) -> int:
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        raise ConfigError(variable, f"{raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ConfigError(variable, f"{value} is outside {low}..{high}")
    return value


def _float(
    environ: Mapping[str, str], variable: str, *, default: float, low: float, high: float
) -> float:
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(variable, f"{raw!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigError(variable, f"{value} is outside {low}..{high}")
    return value


def variables_read(services: str = DEFAULT_SERVICES) -> set[str]:
    """Every deployment variable the bridge reads for this ``BRIDGE_SERVICES`` value.

    Terraform's tests compare this with the environment it generates: one list, not two.
    """
    per_service = {v for _, suffix in parse_services(services) for v in service_variables(suffix)}
    return set(GLOBAL_VARIABLES) | per_service
