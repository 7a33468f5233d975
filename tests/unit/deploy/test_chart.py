"""The Helm chart's logic, on the objects `helm template` renders (no cluster exists here).

Syntax and schemas are `make deploy-check`'s job; these tests pin what the templates
compute: the drain timing, where the probes go under TLS, the GPU resources and devices,
the admin API's guard, the ServiceMonitor's wiring and the security context. helm and
the YAML parser come from `make deploy-check` (.cache/helm, .venv-deploy).
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from dockerfile import stage_env

from ocrserve.settings import Settings
from ocrserve.supervisor.multiprocess import STOP_MARGIN_S

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "ocrserve"
HELM = REPO / ".cache" / "helm" / "helm"
DEPLOY_PYTHON = REPO / ".venv-deploy" / "bin" / "python"
GPU_VALUES = CHART / "ci" / "gpu-hpa-tls.yaml"
# PyYAML is in the deploy venv only (the main venv does not need it): it turns YAML to JSON.
YAML_TO_JSON = ("import json, sys, yaml; "
                "json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)")

pytestmark = pytest.mark.skipif(
    not (HELM.exists() and DEPLOY_PYTHON.exists()),
    reason="helm or .venv-deploy missing: run `make deploy-check` (make test does it first)")

Objects = dict[tuple[str, str], dict[str, Any]]


def render(*args: str) -> Objects:
    """The chart's objects keyed by (kind, name), rendered by helm itself."""
    yaml_text = subprocess.run([str(HELM), "template", "ocr", str(CHART), *args],
                               check=True, capture_output=True, text=True).stdout
    docs = json.loads(subprocess.run([str(DEPLOY_PYTHON), "-c", YAML_TO_JSON], input=yaml_text,
                                     check=True, capture_output=True, text=True).stdout)
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def server_config(objects: Objects) -> dict[str, Any]:
    return tomllib.loads(objects["ConfigMap", "ocr-ocrserve"]["data"]["config.toml"])


def pod_spec(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Deployment", "ocr-ocrserve"]["spec"]["template"]["spec"]
    return spec


def server_container(objects: Objects) -> dict[str, Any]:
    return next(c for c in pod_spec(objects)["containers"] if c["name"] == "server")


@pytest.fixture(scope="module")
def default() -> Objects:
    return render()


@pytest.fixture(scope="module")
def gpu() -> Objects:
    return render("-f", str(GPU_VALUES))


def test_default_config_is_accepted_by_the_server_settings(default: Objects,
                                                           tmp_path: Path) -> None:
    """The rendered TOML must load: the server rejects unknown keys and bad values."""
    path = tmp_path / "config.toml"
    path.write_text(default["ConfigMap", "ocr-ocrserve"]["data"]["config.toml"])
    settings = Settings.load(["--config", str(path)], env={})
    assert settings.admin_enabled is False
    assert settings.devices == "cpu"
    assert settings.model_repository == "/models"
    assert settings.slot[0] == "det=ch_PP-OCRv2_det"


@pytest.mark.parametrize("values", ["default", "gpu"])
def test_termination_grace_covers_prestop_drain_and_grace(values: str,
                                                          request: pytest.FixtureRequest) -> None:
    objects: Objects = request.getfixturevalue(values)
    config = server_config(objects)
    container = server_container(objects)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
    sleep_s = float(pre_stop["command"][1]) if pre_stop else 0.0
    # The supervisor's own stop ends by drain + grace + STOP_MARGIN_S after its SIGTERM.
    assert pod_spec(objects)["terminationGracePeriodSeconds"] > (
        sleep_s + config["drain_delay_s"] + config["grace_period_s"] + STOP_MARGIN_S)


def test_probes_use_the_grpc_port_without_tls(default: Objects) -> None:
    container = server_container(default)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == server_config(default)["port"]
    assert "health_port" not in server_config(default)


def test_probes_use_the_plaintext_health_port_under_tls(gpu: Objects) -> None:
    config = server_config(gpu)
    assert config["tls_cert_file"] == "/etc/ocrserve/tls/tls.crt"
    assert config["health_port"] not in (-1, config["port"])
    container = server_container(gpu)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == config["health_port"]


def test_gpu_values_request_gpus_and_one_engine_each(default: Objects, gpu: Objects) -> None:
    assert server_container(gpu)["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert server_config(gpu)["devices"] == "cuda:0"
    assert "nvidia.com/gpu" not in server_container(default)["resources"].get("limits", {})
    assert pod_spec(gpu)["runtimeClassName"] == "nvidia"
    four = render("--set", "gpu.count=4")
    assert server_container(four)["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert server_config(four)["devices"] == "cuda:0,cuda:1,cuda:2,cuda:3"


def test_admin_is_off_by_default_and_needs_a_token(default: Objects, gpu: Objects) -> None:
    assert ("Service", "ocr-ocrserve-admin") not in default
    assert server_config(default)["admin_enabled"] is False
    admin_env = {e["name"]: e for e in server_container(gpu)["env"]}["OCR_ADMIN_TOKEN"]
    assert admin_env["valueFrom"]["secretKeyRef"] == {"name": "ocrserve-tokens", "key": "admin"}
    assert gpu["Service", "ocr-ocrserve-admin"]["spec"]["ports"][0]["port"] == \
        server_config(gpu)["admin_port"]
    refused = subprocess.run(
        [str(HELM), "template", "ocr", str(CHART), "--set", "admin.enabled=true"],
        capture_output=True, text=True)
    assert refused.returncode != 0
    assert "admin.tokenSecret.name" in refused.stderr


@pytest.mark.parametrize(("values", "target", "enabled"),
                         [((), "cpu", False), (("-f", str(GPU_VALUES)), "gpu", True)])
def test_the_admin_switch_survives_the_images_environment(
        values: tuple[str, ...], target: str, enabled: bool, tmp_path: Path) -> None:
    """The image sets OCR_ADMIN_ENABLED=false, and the environment outranks the config
    file: the server must still do what the chart decided, with the pod's whole env.
    (TLS off: its certificate files exist only in a cluster.)"""
    objects = render(*values, "--set", "tls.enabled=false")
    path = tmp_path / "config.toml"
    path.write_text(objects["ConfigMap", "ocr-ocrserve"]["data"]["config.toml"])
    env = stage_env(target)
    env.update({e["name"]: e["value"] for e in server_container(objects)["env"] if "value" in e})
    env.update({e["name"]: f"secret-{e['name']}" for e in server_container(objects)["env"]
                if "valueFrom" in e})
    settings = Settings.load(["--config", str(path)], env=env)
    assert settings.admin_enabled is enabled
    assert (("Service", "ocr-ocrserve-admin") in objects) is enabled


def test_the_test_pod_is_not_one_of_the_servers_pods(gpu: Objects) -> None:
    """The Service, the PDB and the HPA's Deployment must not count `helm test`'s pod."""
    test_labels = gpu["Pod", "ocr-ocrserve-test-health"]["metadata"]["labels"]
    selectors = [gpu["Service", "ocr-ocrserve"]["spec"]["selector"],
                 gpu["PodDisruptionBudget", "ocr-ocrserve"]["spec"]["selector"]["matchLabels"],
                 gpu["Deployment", "ocr-ocrserve"]["spec"]["selector"]["matchLabels"]]
    for selector in selectors:
        assert not selector.items() <= test_labels.items(), selector


def test_a_read_write_once_model_claim_is_refused_for_several_pods() -> None:
    claim = ["--set", "models.storage=pvc", "--set", "models.pvc.accessModes={ReadWriteOnce}"]
    for pods in (["--set", "replicaCount=2"], ["--set", "autoscaling.enabled=true"]):
        refused = subprocess.run([str(HELM), "template", "ocr", str(CHART), *claim, *pods],
                                 capture_output=True, text=True)
        assert refused.returncode != 0
        assert "ReadWriteMany" in refused.stderr
    single = render(*claim)
    assert single["PersistentVolumeClaim", "ocr-ocrserve-models"]["spec"]["accessModes"] == [
        "ReadWriteOnce"]


def test_security_context_is_locked_down(gpu: Objects) -> None:
    spec = pod_spec(gpu)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"] + spec["initContainers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/models", "/tmp"} <= mounts


def test_grpc_services_declare_the_protocol(gpu: Objects) -> None:
    for name in ("ocr-ocrserve", "ocr-ocrserve-headless"):
        assert gpu["Service", name]["spec"]["ports"][0]["appProtocol"] == "grpc"
    assert gpu["Service", "ocr-ocrserve-headless"]["spec"]["clusterIP"] == "None"


def test_service_monitor_selects_the_metrics_service(gpu: Objects) -> None:
    """kubernetes-validate has no schema for this CRD: its wiring is checked here."""
    monitor = gpu["ServiceMonitor", "ocr-ocrserve"]
    metrics = gpu["Service", "ocr-ocrserve-metrics"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= metrics["metadata"]["labels"].items()
    assert ("Service", "ocr-ocrserve") not in [
        key for key, obj in gpu.items() if key[0] == "Service"
        and selector.items() <= obj["metadata"]["labels"].items()]
    port_names = {p["name"] for p in metrics["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "metrics" in port_names


def test_hpa_scales_the_deployment_on_cpu_and_queue_time(gpu: Objects) -> None:
    hpa = gpu["HorizontalPodAutoscaler", "ocr-ocrserve"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ocr-ocrserve"
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource", "Pods"]
    assert "replicas" not in gpu["Deployment", "ocr-ocrserve"]["spec"]


def test_init_container_installs_and_pulls_the_listed_models() -> None:
    objects = render("--set", "models.init.pull={french_mobile_v2.0_rec,ta_mobile_v2.0_rec}")
    init = pod_spec(objects)["initContainers"][0]
    script = init["args"][0]
    assert "ocr-models install-defaults" in script
    assert re.findall(r'ocr-models pull "([^"]+)"', script) == [
        "french_mobile_v2.0_rec", "ta_mobile_v2.0_rec"]
    assert {"name": "OCR_MODEL_REPOSITORY", "value": "/models"} in init["env"]


def test_gpu_values_serve_only_models_its_backend_runs(gpu: Objects) -> None:
    """torch runs ONNX: every slot names the ONNX build or a model whose only installed
    build is the ONNX one the default packages bring."""
    config = server_config(gpu)
    assert config["backend"] == "torch"
    script = pod_spec(gpu)["initContainers"][0]["args"][0]
    assert "ocr-models install-defaults" in script and "ocr-models pull" not in script
    assert "cls=ch_ppocr_mobile_v2.0_cls@onnx" in config["slot"]


def test_dashboard_configmap_carries_the_repo_dashboard(gpu: Objects) -> None:
    configmap = gpu["ConfigMap", "ocr-ocrserve-dashboard"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART / "dashboards" / "ocrserve.json").read_text())
    assert json.loads(configmap["data"]["ocrserve.json"]) == shipped


@pytest.mark.parametrize("setting", ["server.port=1", "image.tag=latest", "gpu.count=-1"])
def test_schema_refuses_values_the_chart_owns_or_cannot_serve(setting: str) -> None:
    """values.schema.json: a duplicate TOML key or a floating tag fails at install time."""
    refused = subprocess.run([str(HELM), "template", "ocr", str(CHART), "--set", setting],
                             capture_output=True, text=True)
    assert refused.returncode != 0
    assert "schema" in refused.stderr


def test_helm_test_pod_checks_health_through_the_service(default: Objects, gpu: Objects) -> None:
    plain = default["Pod", "ocr-ocrserve-test-health"]["spec"]["containers"][0]
    assert plain["command"] == ["ocr-client"]
    assert plain["args"][:3] == ["health", "--server", "ocr-ocrserve:50051"]
    assert "--tls-ca" not in plain["args"]
    mtls = gpu["Pod", "ocr-ocrserve-test-health"]["spec"]["containers"][0]["args"]
    assert {"--tls-ca", "--tls-cert", "--tls-key"} <= set(mtls)


def test_network_policy_admits_probes_and_the_test_pod(gpu: Objects) -> None:
    """Under TLS the kubelet probes the health port; grpcFrom must not lock out `helm test`."""
    rules = gpu["NetworkPolicy", "ocr-ocrserve"]["spec"]["ingress"]
    config = server_config(gpu)
    open_ports = [rule["ports"][0]["port"] for rule in rules if "from" not in rule]
    assert config["health_port"] in open_ports
    grpc_rule = next(r for r in rules if r["ports"][0]["port"] == config["port"])
    test_labels = gpu["Pod", "ocr-ocrserve-test-health"]["metadata"]["labels"]
    assert any(peer.get("podSelector", {}).get("matchLabels", {}).items() <= test_labels.items()
               and "podSelector" in peer for peer in grpc_rule["from"])
