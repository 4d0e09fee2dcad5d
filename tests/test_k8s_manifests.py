"""deploy/k8s/*.yaml: valid Kubernetes objects (the JSON schemas bundled in kubernetes-validate,
nothing downloaded) that keep the rules of docs/deploy.md: probes, drain, one beat, routing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
K8S_VERSION = "1.35.0"  # the oldest schema set the package bundles in strict form
PRESTOP_SECONDS = 10
DRAIN_SECONDS = 60  # STELLAR_DRAIN_SECONDS of the media class


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return docs


DOCS = _documents()


def _by(kind: str, name: str) -> dict[str, Any]:
    return next(d for _, d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    """The pod's main container (the first; only the media pods add the spool-ship sidecar)."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers[1:]] in ([], ["spool-ship"])
    return containers[0]


def test_no_volume_is_shared_and_media_pods_ship_their_own_spool():
    for name, doc in DOCS:
        assert "ReadWriteMany" not in str(doc), name
        assert doc["kind"] != "PersistentVolumeClaim", name
    pod = _by("Deployment", "stellar-media")["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["containers"] if c["name"] == "spool-ship")
    assert sidecar["args"][-3:] == ["spool_ship", "--every", "15"]
    mounts = {(m["name"], m["mountPath"]) for m in sidecar["volumeMounts"]}
    assert mounts == {
        (m["name"], m["mountPath"])
        for m in _container(_by("Deployment", "stellar-media"))["volumeMounts"]
    }


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_there_are_manifests():
    kinds = sorted(d["kind"] for _, d in DOCS)
    assert kinds.count("Deployment") == 4
    assert {"Service", "Ingress", "Job"} <= set(kinds)


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_manifest_matches_the_kubernetes_schema(name, doc):
    # strict: unknown fields (a typo such as "readinesProbe") are errors, not ignored.
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_refused():
    doc = _by("Deployment", "stellar-media")
    broken = {**doc, "spec": {**doc["spec"], "replicas": "four"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    typo = yaml.safe_load(yaml.safe_dump(doc).replace("readinessProbe", "readinesProbe"))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", ["stellar-media", "stellar-http"])
def test_daphne_probes_and_drain(name):
    deployment = _by("Deployment", name)
    container = _container(deployment)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        headers = {h["name"]: h["value"] for h in container[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] == "localhost"  # in ALLOWED_HOSTS by default
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(PRESTOP_SECONDS)]
    drain = int(_env(container)["STELLAR_DRAIN_SECONDS"])
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > PRESTOP_SECONDS + drain  # the drain ends before Kubernetes sends SIGKILL
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_media_and_http_classes():
    media = _env(_container(_by("Deployment", "stellar-media")))
    http = _env(_container(_by("Deployment", "stellar-http")))
    assert media["STELLAR_PROCESS_ROLE"] == "all" and http["STELLAR_PROCESS_ROLE"] == "http"
    assert int(media["STELLAR_DRAIN_SECONDS"]) == DRAIN_SECONDS
    for env in (media, http):  # the pool excludes persistent connections (stellar/settings.py)
        assert int(env["DB_POOL_MAX_SIZE"]) > 0 and env["DB_CONN_MAX_AGE"] == "0"


def test_exactly_one_beat():
    beat = _by("Deployment", "stellar-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"


def test_ingress_sends_every_websocket_route_to_the_media_class():
    """The Ingress's websocket prefixes are the ones the code serves (stellar/routing.py)."""
    from stellar.routing import websocket_urlpatterns

    ingress = _by("Ingress", "stellar")
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert paths.pop("/") == "stellar-http"
    assert set(paths.values()) == {"stellar-media"}
    for pattern in websocket_urlpatterns:
        route = "/" + str(pattern.pattern)
        assert any(route.startswith(prefix) for prefix in paths), route
    services = {d["metadata"]["name"] for _, d in DOCS if d["kind"] == "Service"}
    assert {"stellar-media", "stellar-http"} <= services
