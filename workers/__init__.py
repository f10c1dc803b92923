"""newsflow: a streaming news-processing worker (cleaning, dedup, entity tagging) on Kafka.

The package is layered; imports point one way, from the top of this list down:

* ``workers.tools`` — the command line, the demo, benchmarks, evaluation, build commands;
* ``workers.stream`` — the Faust app, the agents' handlers, the runner and the tagging pool:
  everything that moves messages;
* ``workers.stages``, ``workers.ops``, ``workers.kafka`` — the pure stages; metrics, health
  endpoints, logging and the event-loop monitor; the local broker and plain aiokafka helpers;
* the leaves at this level (``settings``, ``records``, ``codec``, ``errors``, ``kb``), which
  every layer may import and which import only each other.

``tests/unit/test_layers.py`` holds these directions.
"""

__version__ = "0.1.0"
