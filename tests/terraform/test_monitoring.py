"""The dashboard and the alerts name only metrics and labels that exist, on the right resources.

Read from the applied example deployment (mocked providers, every value resolved): each chart's
and each alert's filter, group-by fields and aligners. A metric type is either one of the module's
own log-based metrics (their labels as declared) or one of Google's, recorded with its source in
``data/google-metrics.json``. The log-based metrics' label extractors are checked against the
lines the bridge really writes, captured from the bridge run in-process.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load_settings
from bridge.errors import TransientError
from bridge.http_entry import HttpBridge
from bridge.logs import Outcome, TaskState
from bridge.pubsub_entry import PubsubBridge
from tests.conftest import NOW, old_enqueuer_env, push_body
from tests.doubles import FakeGateway, RecordingSink, starlette_request
from tests.terraform.conftest import EXAMPLE_TFVARS, TF_VENV, resources

GOOGLE = json.loads((Path(__file__).parent / "data" / "google-metrics.json").read_text())
LOG_METRIC_PREFIX = "logging.googleapis.com/user/"
LOG_METRIC_RESOURCE = "cloud_run_revision"  # the functions' log entries, hence their metrics
# Fields extracted ahead of the bridge code (none now: `task_state` landed with issue 13). Remove
# an entry once the bridge logs it: test_fields_logged_ahead_are_still_missing fails as soon as
# it does.
LOGGED_AHEAD: dict[tuple[str, str], tuple[str, ...]] = {}

# Which aligners and reducers accept which metric kinds and value types (Monitoring API, enum
# Aligner and Reducer: https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies#Aligner).
NUMERIC = {"INT64", "DOUBLE"}
ALIGNERS: dict[str, tuple[set[str], set[str]]] = {
    "ALIGN_SUM": ({"GAUGE", "DELTA"}, NUMERIC | {"DISTRIBUTION"}),
    "ALIGN_MAX": ({"GAUGE", "DELTA"}, NUMERIC),
    "ALIGN_DELTA": ({"CUMULATIVE", "DELTA"}, NUMERIC | {"DISTRIBUTION"}),
    "ALIGN_PERCENT_CHANGE": ({"GAUGE", "DELTA"}, NUMERIC),
}
REDUCERS: dict[str, set[str]] = {
    "REDUCE_SUM": NUMERIC | {"DISTRIBUTION"},
    "REDUCE_MAX": NUMERIC,
    "REDUCE_PERCENTILE_50": NUMERIC | {"DISTRIBUTION"},
    "REDUCE_PERCENTILE_99": NUMERIC | {"DISTRIBUTION"},
}

METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"([^"]+)"')
RESOURCE_TYPE = re.compile(r'resource\.type\s*=\s*"([^"]+)"')
LABEL = re.compile(r'\b(metric|resource)\.labels?\."?([A-Za-z_][A-Za-z0-9_]*)"?')
LABEL_VALUES = re.compile(
    r'\b(?:metric\.labels?|jsonPayload)\.(\w+)\s*=\s*(one_of\(([^)]*)\)|"([^"]*)"|\(([^)]*)\))'
)
EXTRACT = re.compile(r"^EXTRACT\(jsonPayload\.(\w+)\)$")
# The provider documents each enum argument ("Possible values: [...]") in the schema wheel the
# stand-in is built from; the stand-in itself does not check values (terraform/README.md, "Tests").
POSSIBLE_VALUES = re.compile(
    r"Possible values: \[([^\]]*)\](?:(?!\*/).)*\*/\s*readonly (\w+)\??:", re.DOTALL
)
MAX_CONDITION_FILTER_CHARS = 2048  # the provider's doc of condition_threshold.filter


@dataclass(frozen=True)
class Query:
    """One time-series query: a dashboard data set, or an alert condition (or its denominator)."""

    where: str
    filter: str
    group_by: tuple[str, ...]
    aligner: str | None
    reducer: str | None
    legend: str = ""


@dataclass(frozen=True)
class Metric:
    kind: str
    value_type: str
    resource: str
    labels: frozenset[str]


@pytest.fixture(scope="module")
def state(contract_state: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    return contract_state(EXAMPLE_TFVARS)


def _values(state: dict[str, Any], address: str) -> list[dict[str, Any]]:
    return [r["values"] for r in resources(state, address)]


def _log_metrics(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The module's log-based metrics by their key (messages, rejections, duplicates)."""
    found = resources(state, "google_logging_metric.bridge")
    return {r["index"]: r["values"] for r in found}


def _known_metrics(state: dict[str, Any]) -> dict[str, Metric]:
    known = {
        metric_type: Metric(
            kind=m["kind"],
            value_type=m["value_type"],
            resource=m["monitored_resource"],
            labels=frozenset(m["labels"]),
        )
        for metric_type, m in GOOGLE["metrics"].items()
    }
    for values in [
        *_log_metrics(state).values(),
        *_values(state, "google_logging_metric.rejected_or_retried"),
    ]:
        (descriptor,) = values["metric_descriptor"]
        known[LOG_METRIC_PREFIX + values["name"]] = Metric(
            kind=descriptor["metric_kind"],
            value_type=descriptor["value_type"],
            resource=LOG_METRIC_RESOURCE,
            labels=frozenset(label["key"] for label in descriptor["labels"]),
        )
    return known


def _dashboard_queries(state: dict[str, Any]) -> Iterator[Query]:
    (dashboard,) = _values(state, "google_monitoring_dashboard.bridge")
    for tile in json.loads(dashboard["dashboard_json"])["mosaicLayout"]["tiles"]:
        widget = tile["widget"]
        for data_set in widget.get("xyChart", {}).get("dataSets", []):
            query = data_set["timeSeriesQuery"]["timeSeriesFilter"]
            aggregation = query.get("aggregation", {})
            yield Query(
                where=f"dashboard: {widget['title']}",
                filter=query["filter"],
                group_by=tuple(aggregation.get("groupByFields", [])),
                aligner=aggregation.get("perSeriesAligner"),
                reducer=aggregation.get("crossSeriesReducer"),
                legend=data_set.get("legendTemplate", ""),
            )


def _alert_queries(state: dict[str, Any]) -> Iterator[Query]:
    policies = [r for r in resources(state) if r["type"] == "google_monitoring_alert_policy"]
    for policy in policies:
        for condition in policy["values"]["conditions"]:
            for threshold in condition["condition_threshold"]:
                pairs = [("filter", "aggregations")]
                if threshold.get("denominator_filter"):
                    pairs.append(("denominator_filter", "denominator_aggregations"))
                for filter_key, aggregations_key in pairs:
                    aggregations = threshold[aggregations_key] or [{}]
                    for aggregation in aggregations:
                        yield Query(
                            where=f"alert {policy['address']}: {condition['display_name']}",
                            filter=threshold[filter_key],
                            group_by=tuple(aggregation.get("group_by_fields") or []),
                            aligner=aggregation.get("per_series_aligner") or None,
                            reducer=aggregation.get("cross_series_reducer") or None,
                        )


def _queries(state: dict[str, Any]) -> list[Query]:
    return [*_dashboard_queries(state), *_alert_queries(state)]


def _metric_of(query: Query) -> str:
    (metric_type,) = METRIC_TYPE.findall(query.filter)
    return str(metric_type)


def test_the_dashboard_and_alerts_query_the_expected_metrics(state: dict[str, Any]) -> None:
    named = {_metric_of(q) for q in _queries(state)}
    own = {LOG_METRIC_PREFIX + m["name"] for m in _log_metrics(state).values()}
    assert own <= {_metric_of(q) for q in _dashboard_queries(state)}
    assert {
        "cloudtasks.googleapis.com/queue/depth",
        "cloudtasks.googleapis.com/queue/task_attempt_count",
        "pubsub.googleapis.com/subscription/num_undelivered_messages",
        "run.googleapis.com/request_latencies",
    } <= named


def test_every_metric_type_is_the_modules_or_published_by_google(state: dict[str, Any]) -> None:
    known = _known_metrics(state)
    unknown = sorted(
        {(q.where, _metric_of(q)) for q in _queries(state) if _metric_of(q) not in known}
    )
    assert unknown == []


def test_every_query_names_the_metrics_monitored_resource(state: dict[str, Any]) -> None:
    known = _known_metrics(state)
    for query in _queries(state):
        resource_types = RESOURCE_TYPE.findall(query.filter)
        assert resource_types == [known[_metric_of(query)].resource], query


def test_every_label_exists_on_its_metric_or_resource(state: dict[str, Any]) -> None:
    known = _known_metrics(state)
    resource_labels = {name: set(r["labels"]) for name, r in GOOGLE["monitored_resources"].items()}
    missing = []
    for query in _queries(state):
        metric = known[_metric_of(query)]
        for text in (query.filter, *query.group_by, query.legend):
            for scope, label in LABEL.findall(text):
                labels = metric.labels if scope == "metric" else resource_labels[metric.resource]
                if label not in labels:
                    missing.append((query.where, f"{scope}.label.{label}"))
    assert missing == []
    assert all(LABEL.fullmatch(field) for q in _queries(state) for field in q.group_by)


def test_aligners_and_reducers_fit_the_metric_kind(state: dict[str, Any]) -> None:
    known = _known_metrics(state)
    for query in _queries(state):
        metric = known[_metric_of(query)]
        if query.aligner is not None:
            kinds, value_types = ALIGNERS[query.aligner]
            assert metric.kind in kinds, query
            assert metric.value_type in value_types, query
        if query.reducer is not None:
            # After ALIGN_PERCENT_CHANGE the series is numeric, whatever the metric was.
            value_type = "DOUBLE" if query.aligner == "ALIGN_PERCENT_CHANGE" else metric.value_type
            assert value_type in REDUCERS[query.reducer], query


def _provider_enums(resource_doc: str) -> dict[str, set[str]]:
    """snake_case argument -> the values the google provider documents for it."""
    (wheel,) = (TF_VENV / "wheels").glob("cdktn_provider_google-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(".jsii.tgz")]
        jsii = archive.read(member)
    with tarfile.open(fileobj=io.BytesIO(jsii)) as package:
        doc = package.extractfile(f"package/lib/{resource_doc}/index.d.ts")
        assert doc is not None
        text = doc.read().decode()
    enums: dict[str, set[str]] = {}
    for listed, camel in POSSIBLE_VALUES.findall(text):
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()
        enums.setdefault(snake, set()).update(re.findall(r'"([^"]*)"', listed))
    return enums


def _arguments(values: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(values, dict):
        for k, v in values.items():
            yield from _arguments(v, k)
    elif isinstance(values, list):
        for v in values:
            yield from _arguments(v, key)
    else:
        yield key, values


@pytest.mark.parametrize(
    ("resource_type", "resource_doc"),
    [
        ("google_monitoring_alert_policy", "monitoring-alert-policy"),
        ("google_logging_metric", "logging-metric"),
    ],
)
def test_enum_arguments_take_values_the_provider_accepts(
    state: dict[str, Any], resource_type: str, resource_doc: str
) -> None:
    enums = _provider_enums(resource_doc)
    assert {"per_series_aligner", "combiner", "metric_kind"} & set(enums)
    checked = 0
    for resource in [r for r in resources(state) if r["type"] == resource_type]:
        for key, value in _arguments(resource["values"]):
            if key in enums and isinstance(value, str) and value:
                assert value in enums[key], (resource["address"], key, value)
                checked += 1
    assert checked


def test_dashboard_aligners_and_reducers_are_the_apis(state: dict[str, Any]) -> None:
    # Dashboards and alert policies share the Monitoring API's Aligner and Reducer enums.
    enums = _provider_enums("monitoring-alert-policy")
    for query in _dashboard_queries(state):
        assert query.aligner in enums["per_series_aligner"], query
        assert query.reducer in enums["cross_series_reducer"], query


def test_alert_filters_fit_the_apis_limit(state: dict[str, Any]) -> None:
    for query in _alert_queries(state):
        assert len(query.filter) <= MAX_CONDITION_FILTER_CHARS, query.where


def test_queue_charts_and_alerts_cover_every_queue(state: dict[str, Any]) -> None:
    queues = {q["name"] for q in _values(state, "google_cloud_tasks_queue.service")}
    assert len(queues) == 4
    for query in _queries(state):
        if "cloud_tasks_queue" in query.filter:
            named = set(re.findall(r'"(queue-[^"]+)"', query.filter))
            assert named, query
            assert named <= queues, query
    growing = {
        r["index"]: r["values"]
        for r in resources(state, "google_monitoring_alert_policy.queue_growing")
    }
    assert len(growing) == 4


# What the bridge logs, captured from the bridge itself.


def _field_values(filter_text: str) -> dict[str, set[str]]:
    """Values a filter compares its outcome/task_state/reason fields or labels with."""
    found: dict[str, set[str]] = {}
    for field, _, one_of, single, grouped in LABEL_VALUES.findall(filter_text):
        listed = one_of or grouped
        values = re.findall(r'"([^"]*)"', listed) if listed else [single]
        found.setdefault(field, set()).update(values)
    return found


@pytest.fixture(scope="module")
def logged_lines() -> list[dict[str, Any]]:
    """One line per outcome the bridge has, from both entry points, as written to stdout."""
    captured: list[str] = []
    settings = load_settings(old_enqueuer_env())
    gateway = FakeGateway()
    pubsub = PubsubBridge(
        settings=settings, gateway=gateway, rejections=RecordingSink(), clock=lambda: NOW
    )
    envelope = {"service": "brain", "payload": {"x": 1}, "idempotency_key": "CASE-001"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", _Lines(captured))
        for event_id, body in (
            ("1", push_body(envelope, message_id="1")),
            ("2", push_body(envelope, message_id="2")),
            ("3", push_body({"service": "nope", "payload": {}})),
            ("4", push_body("not json")),
        ):
            asyncio.run(pubsub.handle(event_id=event_id, event_time=None, data=body))
        gateway.errors.append(TransientError(code="UNAVAILABLE", detail="test"))
        with pytest.raises(TransientError):
            asyncio.run(
                pubsub.handle(
                    event_id="5",
                    event_time=None,
                    data=push_body({**envelope, "idempotency_key": "K2"}),
                )
            )
        http = HttpBridge(settings=settings, gateway=FakeGateway(), clock=lambda: NOW)
        for body in (envelope, envelope, {"service": "nope", "payload": {}}):
            asyncio.run(http.handle(starlette_request(json.dumps(body).encode())))
    lines = [json.loads(line) for line in "".join(captured).splitlines()]
    assert {line["outcome"] for line in lines} == {o.value for o in Outcome}
    return lines


class _Lines:
    """A stdout stand-in that keeps what is written."""

    def __init__(self, into: list[str]) -> None:
        self._into = into

    def write(self, text: str) -> int:
        self._into.append(text)
        return len(text)

    def flush(self) -> None:
        return None


def test_each_metric_counts_outcomes_the_bridge_has(state: dict[str, Any]) -> None:
    outcomes = {o.value for o in Outcome}
    for key, metric in _log_metrics(state).items():
        selected = _field_values(metric["filter"]).get("outcome", set())
        assert selected, key
        assert selected <= outcomes, key
    assert _field_values(_log_metrics(state)["messages"]["filter"])["outcome"] == outcomes


def test_label_extractors_name_fields_the_bridge_logs(
    state: dict[str, Any], logged_lines: list[dict[str, Any]]
) -> None:
    for key, metric in _log_metrics(state).items():
        outcomes = _field_values(metric["filter"])["outcome"]
        lines = [line for line in logged_lines if line["outcome"] in outcomes]
        for label, extractor in metric["label_extractors"].items():
            match = EXTRACT.fullmatch(extractor)
            assert match is not None, (key, extractor)
            assert match.group(1) == label, (key, extractor)
            if (key, label) in LOGGED_AHEAD:
                continue
            for outcome in outcomes:
                carrying = [line for line in lines if line["outcome"] == outcome and label in line]
                assert carrying, f"no {outcome} line carries {label!r} ({key})"


def test_fields_logged_ahead_are_still_missing(
    state: dict[str, Any], logged_lines: list[dict[str, Any]]
) -> None:
    for (key, label), values in LOGGED_AHEAD.items():
        assert label in _log_metrics(state)[key]["label_extractors"]
        outcomes = _field_values(_log_metrics(state)[key]["filter"])["outcome"]
        logged = [
            line[label] for line in logged_lines if line["outcome"] in outcomes and label in line
        ]
        assert logged == [], (
            f"the bridge logs {label} now ({sorted(set(logged))}, expected within {values}): "
            f"remove {(key, label)} from LOGGED_AHEAD"
        )


def test_alerts_compare_labels_with_values_the_bridge_writes(state: dict[str, Any]) -> None:
    allowed = {
        "outcome": {o.value for o in Outcome},
        "task_state": {s.value for s in TaskState},
        **{label: set(values) for (_, label), values in LOGGED_AHEAD.items()},
    }
    compared = [_field_values(q.filter) for q in _queries(state)]
    assert any(values.get("task_state") == {"reserved"} for values in compared)
    for values in compared:
        for field, used in values.items():
            if field in allowed:
                assert used <= allowed[field], (field, used)
