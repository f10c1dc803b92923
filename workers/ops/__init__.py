"""Operations: Prometheus metrics (``metrics``), the health and metrics HTTP endpoints
(``health``), the event-loop monitor (``loopmon``), logging set-up (``logs``) and the PromQL of
the shipped dashboard and rules (``promexpr``).

May import only the leaves (``workers.settings``, ``records``, ...); the stream layer hands in
what the endpoints report, so nothing here knows about agents or the tagging pool.
"""
