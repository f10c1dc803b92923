"""Kafka outside Faust: the local single-node KRaft broker (``local``, ``newsflow kafka ...``) and
plain aiokafka helpers (``io``: topics, producing, reading, TLS/SASL, the broker probe).

May import only the leaves (``workers.settings``, ``errors``).
"""
