from __future__ import annotations

import pytest

from bridge.config import (
    load_settings,
    parse_services,
    require_rejection_sink,
    variables_read,
)
from bridge.errors import ConfigError
from bridge.limits import DEFAULT_DEADLINE_S
from tests.conftest import CALLER_SA, old_enqueuer_env


def test_the_old_enqueuer_environment_works_unchanged() -> None:
    settings = load_settings(old_enqueuer_env())
    assert settings.service_names == ["brain", "regresos", "testimonios", "transcripciones"]
    regresos = settings.routes["regresos"]
    assert (
        regresos.queue_path == "projects/demo-project/locations/us-central1/queues/queue-regresos"
    )
    assert regresos.url.endswith("/_tasks/process-pdf-back-questions-run")
    assert regresos.audience == "https://regresos-123.us-central1.run.app"
    assert regresos.deadline_s == 1800
    assert settings.routes["testimonios"].deadline_s == 390
    assert settings.caller_sa == CALLER_SA
    assert settings.rejected_topic == "projects/demo-project/topics/enqueue-requests-rejected"


def test_audience_defaults_to_the_url_origin_and_deadline_to_900() -> None:
    env = old_enqueuer_env()
    del env["AUD_BRAIN"], env["DEADLINE_BRAIN_S"]
    env["URL_BRAIN"] = "https://brain-abc-uc.a.run.app:8443/process?x=1"
    brain = load_settings(env).routes["brain"]
    assert brain.audience == "https://brain-abc-uc.a.run.app:8443"
    assert brain.deadline_s == DEFAULT_DEADLINE_S == 900


def test_region_defaults_to_us_central1() -> None:
    env = old_enqueuer_env()
    del env["TASKS_REGION"]
    assert load_settings(env).region == "us-central1"


def test_a_fifth_service_is_configuration_only() -> None:
    env = {k: v for k, v in old_enqueuer_env().items() if not k.endswith(("TESTI", "TESTI_S"))}
    env = {k: v for k, v in env.items() if "TRANS" not in k and "REGRESOS" not in k}
    env["BRIDGE_SERVICES"] = "brain:BRAIN,facturas:FACT"
    env |= {"QUEUE_FACT": "queue-facturas", "URL_FACT": "https://facturas-x.a.run.app/run"}
    settings = load_settings(env)
    assert settings.service_names == ["brain", "facturas"]
    assert settings.routes["facturas"].queue_id == "queue-facturas"


def test_loopback_workers_may_use_plain_http() -> None:
    env = old_enqueuer_env()
    env["URL_BRAIN"] = "http://127.0.0.1:9000/brain"
    del env["AUD_BRAIN"]
    assert load_settings(env).routes["brain"].audience == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("PROJECT_ID", "", "required"),
        ("PROJECT_ID", "Bad Project", "project id"),
        ("CALLER_SA", "", "required"),
        ("CALLER_SA", "not-an-email", "service account"),
        ("TASKS_REGION", "us central1", "region"),
        ("QUEUE_TRANS", "", "required"),
        ("QUEUE_TRANS", "queue_transcripciones", "queue id"),
        ("URL_TESTI", "", "required"),
        ("URL_TESTI", "http://testimonios.a.run.app/x", "https"),
        ("URL_TESTI", "ftp://testimonios.a.run.app/x", "https"),
        ("URL_TESTI", "/generate-testimony", "absolute URL"),
        ("URL_TESTI", "https://t.a.run.app/" + "x" * 2100, "2083"),
        ("AUD_TESTI", "https://a b", "whitespace"),
        ("AUD_TESTI", "testimonios", "absolute http(s) URL"),
        ("AUD_TESTI", "/generate-testimony", "absolute http(s) URL"),
        ("AUD_TESTI", "ftp://t.a.run.app", "absolute http(s) URL"),
        ("URL_TESTI", "https://t.a.run.app:99999/x", "not a valid URL"),
        ("URL_TESTI", "https://t.a.run.app:80a/x", "not a valid URL"),
        ("URL_TESTI", "https://[::1/x", "not a valid URL"),
        ("AUD_TESTI", "https://t.a.run.app:123456", "not a valid URL"),
        ("PROJECT_ID", "my_project", "project id"),
        ("PROJECT_ID", "1project", "project id"),
        ("PROJECT_ID", "proj-", "project id"),
        ("PROJECT_ID", "short", "project id"),
        ("PROJECT_ID", "a" * 31, "project id"),
        ("PROJECT_ID", "My-Project", "project id"),
        ("DEADLINE_REGRESOS_S", "3600", "15..1800"),
        ("DEADLINE_REGRESOS_S", "10", "15..1800"),
        ("DEADLINE_REGRESOS_S", "90s", "whole number"),
        ("BRIDGE_SERVICES", "brain", "name:SUFFIX"),
        ("BRIDGE_SERVICES", "brain:BRAIN,brain:TESTI", "repeated service name"),
        ("BRIDGE_SERVICES", "brain:BRAIN,cerebro:BRAIN", "repeated suffix"),
        ("REJECTED_TOPIC", "projects/p/subscriptions/s", "topic"),
        ("DROP_REJECTED", "maybe", "true or false"),
        ("DROP_REJECTED", "true", "only when REJECTED_TOPIC is not set"),
        ("MAX_BODY_BYTES", "-1", "whole number"),
        ("TASKS_TIMEOUT_S", "soon", "number"),
        ("TASKS_TIMEOUT_S", "0.1", "outside"),
        ("PUBLISH_TIMEOUT_S", "soon", "number"),
        ("PUBLISH_TIMEOUT_S", "301", "outside"),
    ],
)
def test_a_bad_variable_fails_the_start_naming_it(variable: str, value: str, problem: str) -> None:
    env = old_enqueuer_env()
    env[variable] = value
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.variable == variable
    assert problem in str(caught.value)


def test_the_pubsub_entry_needs_a_rejected_topic_or_an_explicit_opt_out() -> None:
    env = old_enqueuer_env()
    del env["REJECTED_TOPIC"]
    with pytest.raises(ConfigError, match="REJECTED_TOPIC"):
        require_rejection_sink(load_settings(env))
    env["DROP_REJECTED"] = "true"
    settings = load_settings(env)
    require_rejection_sink(settings)
    assert settings.drop_rejected
    assert settings.rejected_topic is None


@pytest.mark.parametrize(
    ("function_target", "rejects_to_a_topic"),
    [("enqueue", True), ("", True), ("enqueue_http", False), (" enqueue_http ", False)],
)
def test_the_function_target_is_read_with_the_settings(
    function_target: str, rejects_to_a_topic: bool
) -> None:
    settings = load_settings({**old_enqueuer_env(), "FUNCTION_TARGET": function_target})
    assert settings.function_target == function_target.strip()
    assert settings.rejects_to_a_topic is rejects_to_a_topic


def test_a_full_topic_path_is_kept() -> None:
    env = old_enqueuer_env()
    env["REJECTED_TOPIC"] = "projects/other-project/topics/rejected"
    assert load_settings(env).rejected_topic == "projects/other-project/topics/rejected"


def test_parse_services_keeps_order() -> None:
    assert parse_services(" a:A , b-c:B_C ") == [("a", "A"), ("b-c", "B_C")]


def test_variables_read_lists_every_deployment_variable() -> None:
    names = variables_read("brain:BRAIN")
    assert {"QUEUE_BRAIN", "URL_BRAIN", "AUD_BRAIN", "DEADLINE_BRAIN_S", "PROJECT_ID"} <= names
    assert "QUEUE_TESTI" not in names
    # Every variable the loader reads is listed: an env with only these names loads.
    env = {k: v for k, v in old_enqueuer_env().items() if k in variables_read()}
    assert load_settings(env).routes.keys() == load_settings(old_enqueuer_env()).routes.keys()


@pytest.mark.parametrize("value", ["demo-project", "ortega-473114", "example.com:my-project"])
def test_valid_project_ids(value: str) -> None:
    assert load_settings(old_enqueuer_env() | {"PROJECT_ID": value}).project_id == value


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("URL_TESTI", "https://user:s3cr3t-pass@testimonios.a.run.app/x"),
        ("URL_TESTI", "https://s3cr3t-pass@testimonios.a.run.app/x"),
        ("AUD_TESTI", "https://user:s3cr3t-pass@testimonios.a.run.app"),
        ("URL_TESTI", "https://user:s3cr3t-pass@testimonios.a.run.app:99999/x"),
        ("URL_TESTI", "http://user:s3cr3t-pass@example.com/ x"),
    ],
)
def test_credentials_in_a_url_are_refused_and_never_echoed(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(old_enqueuer_env() | {variable: value})
    assert caught.value.variable == variable
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("TASK_REGION", "TASKS_REGION"),
        ("CALLER_SA_EMAIL", "CALLER_SA"),
        ("REJECTED_TOPICS", "REJECTED_TOPIC"),
        ("BRIDGE_SERVICE", "BRIDGE_SERVICES"),
        ("TASKS_TIMEOUT", "TASKS_TIMEOUT_S"),
        ("PROJECTID", "PROJECT_ID"),
        ("project_id", "PROJECT_ID"),
        ("CLOUD_TASK_EMULATOR_HOST", "CLOUD_TASKS_EMULATOR_HOST"),
        ("DEADLINE_BRIAN_S", "DEADLINE_BRAIN_S"),
        ("DEADLINE_BRAIN", "DEADLINE_BRAIN_S"),
        ("QUEUE_TESTIMONIOS", "QUEUE_TESTI"),
        ("URL_REGRESO", "URL_REGRESOS"),
        ("AUD_TRANSCRIPCIONES", "AUD_TRANS"),
    ],
)
def test_a_misspelled_variable_stops_the_start_saying_what_it_meant(
    variable: str, meant: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(old_enqueuer_env() | {variable: "europe-west1"})
    assert caught.value.variable == variable
    assert f"did you mean {meant}?" in str(caught.value)


def test_a_service_variable_of_no_configured_service_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(old_enqueuer_env() | {"QUEUE_FACTURAS_X9": "queue-facturas"})
    assert caught.value.variable == "QUEUE_FACTURAS_X9"
    assert "matches no service of BRIDGE_SERVICES" in str(caught.value)
    assert "BRAIN, TESTI, TRANS, REGRESOS" in str(caught.value)


# What Cloud Run (functions, 2nd gen) and a buildpack image put in a function's environment.
CLOUD_RUN_ENV = {
    "K_SERVICE": "enqueue",
    "K_REVISION": "enqueue-00007-xiz",
    "K_CONFIGURATION": "enqueue",
    "PORT": "8080",
    "FUNCTION_TARGET": "enqueue",
    "FUNCTION_SIGNATURE_TYPE": "cloudevent",
    "LOG_EXECUTION_ID": "true",
    "GOOGLE_CLOUD_PROJECT": "demo-project",
    "GOOGLE_FUNCTION_TARGET": "enqueue",
    "GOOGLE_RUNTIME": "python311",
    "GOOGLE_RUNTIME_VERSION": "3.11.9",
    "GOOGLE_ENTRYPOINT": "functions-framework --target enqueue",
    "GCP_PROJECT": "demo-project",
    "FUNCTION_REGION": "us-central1",
    "CNB_STACK_ID": "google.gae.22",
    "CNB_USER_ID": "33",
    "CNB_GROUP_ID": "33",
    "HOME": "/root",
    "HOSTNAME": "localhost",
    "PATH": "/layers/google.python.pip/pip/bin:/usr/local/bin:/usr/bin:/bin",
    "PWD": "/workspace",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "VIRTUAL_ENV": "/layers/google.python.pip/pip",
    "SHLVL": "1",
    "OTEL_SERVICE_NAME": "enqueue",
}


def test_a_typical_cloud_run_environment_is_accepted() -> None:
    settings = load_settings(old_enqueuer_env() | CLOUD_RUN_ENV)
    assert settings.service_names == ["brain", "regresos", "testimonios", "transcripciones"]


def test_rejections_have_their_own_timeout() -> None:
    default = load_settings(old_enqueuer_env())
    assert (default.tasks_timeout_s, default.publish_timeout_s) == (10.0, 10.0)
    both = load_settings(old_enqueuer_env() | {"TASKS_TIMEOUT_S": "7", "PUBLISH_TIMEOUT_S": "25"})
    assert (both.tasks_timeout_s, both.publish_timeout_s) == (7.0, 25.0)
