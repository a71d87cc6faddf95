#!/usr/bin/env bash
# Idempotent installer for the native cluster prerequisites (used by CI and users).
#
#   tasks/install.sh            install everything that is missing
#   tasks/install.sh --check    only report what is missing (exit 1 if anything is)
#
# Installs: Debian packages (JDK 17, ZooKeeper, ClickHouse, HAProxy, PostgreSQL 15,
# Prometheus, Alertmanager, postgres exporter, kcat, maven, docker-compose), Deno 2.9.6
# from npm when missing, and the Kafka 3.9.1 jars (+ the JMX Prometheus agent) from
# Maven Central into .cache/kafka/ in the repository.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/kafka"
KAFKA_VERSION="3.9.1"
JMX_AGENT_VERSION="1.0.1"
DENO_VERSION="2.9.6"
CHECK_ONLY=0
[ "${1:-}" = "--check" ] && CHECK_ONLY=1

APT_PACKAGES=(
  openjdk-17-jre-headless maven zookeeper clickhouse-server clickhouse-client haproxy
  postgresql-15 prometheus prometheus-alertmanager prometheus-postgres-exporter kcat
  docker-compose util-linux curl ca-certificates
)

say() { printf 'install: %s\n' "$*"; }
fail() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="__none__"; fi
fi

missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$p"
    fi
  done
}

# --- Debian packages ---------------------------------------------------------
if ! command -v dpkg-query >/dev/null 2>&1; then
  fail "this installer needs a Debian/Ubuntu system (apt); install manually: ${APT_PACKAGES[*]}"
fi
mapfile -t MISSING < <(missing_packages)
if [ "${#MISSING[@]}" -gt 0 ]; then
  if [ "$CHECK_ONLY" -eq 1 ]; then
    fail "missing Debian packages: ${MISSING[*]} (run tasks/install.sh)"
  fi
  [ "$SUDO" = "__none__" ] && fail "need root or sudo to apt-get install: ${MISSING[*]}"
  say "apt-get install ${MISSING[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q || fail "apt-get update failed"
  # Do not start the distro services: the cluster runs its own instances.
  $SUDO apt-get install -y -q --no-install-recommends "${MISSING[@]}" ||
    fail "apt-get install failed for: ${MISSING[*]}"
else
  say "Debian packages present"
fi

# --- Deno --------------------------------------------------------------------
if command -v deno >/dev/null 2>&1; then
  say "deno present: $(deno --version | head -n1)"
elif [ "$CHECK_ONLY" -eq 1 ]; then
  fail "deno missing (run tasks/install.sh, or: npm install -g deno@$DENO_VERSION)"
else
  command -v npm >/dev/null 2>&1 || fail "deno missing and npm not found: install Node.js/npm, then: npm install -g deno@$DENO_VERSION"
  say "npm install -g deno@$DENO_VERSION"
  $SUDO npm install -g "deno@$DENO_VERSION" || fail "npm install -g deno@$DENO_VERSION failed"
fi

# --- Kafka jars from Maven Central --------------------------------------------
if [ -f "$CACHE/libs/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$CACHE/libs/kafka-tools-$KAFKA_VERSION.jar" ]; then
  say "Kafka $KAFKA_VERSION jars present in .cache/kafka/libs"
elif [ "$CHECK_ONLY" -eq 1 ]; then
  fail "Kafka jars missing in .cache/kafka/libs (run tasks/install.sh)"
else
  command -v mvn >/dev/null 2>&1 || fail "maven (mvn) missing: apt-get install maven"
  mkdir -p "$CACHE"
  cat >"$CACHE/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  say "fetching Kafka $KAFKA_VERSION jars with maven (Maven Central)"
  rm -rf "$CACHE/libs.tmp"
  mvn -q -f "$CACHE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$CACHE/libs.tmp" ||
    fail "maven could not fetch Kafka jars from Maven Central"
  rm -rf "$CACHE/libs" && mv "$CACHE/libs.tmp" "$CACHE/libs"
fi

# Optional: JMX -> Prometheus agent for Kafka metrics (the cluster runs without it).
AGENT="$CACHE/agent/jmx_prometheus_javaagent-$JMX_AGENT_VERSION.jar"
if [ -f "$AGENT" ]; then
  say "JMX Prometheus agent present"
elif [ "$CHECK_ONLY" -eq 0 ] && command -v mvn >/dev/null 2>&1; then
  say "fetching jmx_prometheus_javaagent $JMX_AGENT_VERSION (optional)"
  mvn -q -f "$CACHE/pom.xml" dependency:copy \
    -Dartifact="io.prometheus.jmx:jmx_prometheus_javaagent:$JMX_AGENT_VERSION" \
    -DoutputDirectory="$CACHE/agent" ||
    say "WARNING: could not fetch the JMX agent; Kafka runs without JMX metrics"
fi

say "prerequisites OK"
