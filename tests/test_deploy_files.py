"""deploy/: the Dockerfile, compose file, nginx config and Kubernetes manifests.

They cannot run here (no Docker, no cluster), so this checks what can be checked offline: they
parse, and every ragsift command, option, port, probe path and service name they use exists.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from ragsift.cli import build_parser  # noqa: E402
from ragsift.service import ServiceSettings, create_app  # noqa: E402

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def serve_args(args: list[str]):
    """Parse ``ragsift serve ARGS`` with the real parser (SystemExit on an unknown option)."""
    return build_parser().parse_args(["serve", *args])


def routes() -> set[str]:
    return set(create_app(ServiceSettings(log_json=False)).openapi()["paths"])


def dockerfile_entrypoint() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("ENTRYPOINT"))
    return __import__("json").loads(line.split(None, 1)[1])


def test_dockerfile_pins_torch_and_runs_a_real_serve_command():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "torch==2.13.0" in text and "download.pytorch.org/whl/cpu" in text
    extras = re.search(r"pip install '\.\[([a-z,]+)\]'", text).group(1).split(",")
    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) <= set(declared), set(extras) - set(declared)
    entry = dockerfile_entrypoint()
    assert entry[:2] == ["ragsift", "serve"]
    args = serve_args(entry[2:])
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    assert re.search(r"EXPOSE 8000\b", text)
    assert "/v1/health/ready" in text and "/v1/health/ready" in routes()


def test_compose_wires_milvus_redis_two_replicas_and_a_balancer():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"milvus", "redis", "ragsift-a", "ragsift-b", "lb"} <= set(services)
    for name in ("ragsift-a", "ragsift-b"):
        svc = services[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        args = serve_args(dockerfile_entrypoint()[2:] + svc["command"])
        collection, cache = args.collection, args.cache
        assert collection.startswith("milvus://milvus:19530/") and cache == "redis://redis:6379/0"
    from ragsift.index.milvus import MilvusURI

    assert MilvusURI.parse(collection).endpoint == "http://milvus:19530"
    assert "19530:19530" in services["milvus"]["ports"]
    nginx = (DEPLOY / "nginx.conf").read_text()
    upstreams = re.findall(r"server (\S+):(\d+)", nginx)
    assert sorted(upstreams) == [("ragsift-a", "8000"), ("ragsift-b", "8000")]
    mount = services["lb"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mount).resolve() == (DEPLOY / "nginx.conf").resolve()
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[0] == "redis-server"


def test_kubernetes_deployment_probes_ready_and_the_hpa_targets_it():
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "deployment.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    service = next(d for d in docs if d["kind"] == "Service")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    paths = routes()
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/health/ready" in paths
    assert container["livenessProbe"]["httpGet"]["path"] == "/v1/health/live" in paths
    assert container["ports"][0]["containerPort"] == 8000
    serve_args(dockerfile_entrypoint()[2:] + container["args"])
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    hpa = yaml.safe_load((DEPLOY / "k8s" / "hpa.yaml").read_text())
    assert hpa["kind"] == "HorizontalPodAutoscaler" and hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2


def test_an_unknown_serve_option_would_be_caught():
    with pytest.raises(SystemExit):
        serve_args(shlex.split("--no-such-option 1"))
