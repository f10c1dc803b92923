"""Pure pipeline stages: plain records in, plain records out.

Cleaning (``clean*``), deduplication (``dedup*``) and entity tagging (``entities*``), each built
once by a factory from the settings. They may import only the leaves (``workers.settings``,
``records``, ``codec``, ``errors``, ``kb``) and each other; never Faust, aiokafka, asyncio or
Prometheus, so they run the same in the worker, in ``newsflow eval``/``bench`` and in unit tests.
"""
