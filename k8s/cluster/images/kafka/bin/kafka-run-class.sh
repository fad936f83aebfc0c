#!/bin/bash
# kafka-run-class.sh of the cluster's Kafka image (hack/cluster-images.sh):
# the part of Apache Kafka's script that the chart's start.sh relies on. The
# jars come from Maven Central, which has no bin/ scripts. Honours the
# variables the chart sets: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_LOG4J_OPTS, KAFKA_OPTS, and accepts (and ignores) "-name NAME",
# which only names a log file upstream; everything goes to stdout here.
set -euo pipefail
if [[ "${1:-}" == -name ]]; then
	shift 2
fi
# shellcheck disable=SC2086 # the option variables hold several words
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} ${KAFKA_JVM_PERFORMANCE_OPTS:-} ${KAFKA_LOG4J_OPTS:-} ${KAFKA_OPTS:-} \
	-cp "/opt/kafka/libs/*" "$@"
