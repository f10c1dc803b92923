"""Everything that moves messages: the Faust app and its wiring (``app``), the per-message
handlers (``agents``), running a worker (``runner``), the tagging process pool (``tagpool``),
the consumer introspection and the fix for Faust's seek race (``consumer_view``, ``faustfix``),
the progress and shutdown watchdogs, and the dedup verdicts kept for replays (``verdicts``).

May import the stages, ``workers.ops``, ``workers.kafka`` and the leaves; never ``workers.tools``.
"""
