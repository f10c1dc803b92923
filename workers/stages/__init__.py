"""Pure pipeline stages: plain records in, plain records out; no Kafka, no Faust."""
