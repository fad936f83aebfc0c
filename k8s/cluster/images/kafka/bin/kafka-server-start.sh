#!/bin/bash
# kafka-server-start.sh CONFIG [--override k=v]...: the broker in the
# foreground, as upstream's script runs it.
# shellcheck disable=SC2086 # EXTRA_ARGS holds several words
exec /opt/kafka/bin/kafka-run-class.sh ${EXTRA_ARGS:-} kafka.Kafka "$@"
