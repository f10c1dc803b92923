"""newsflow's own exception hierarchy.

Expected per-message failures are *values* (``records.Rejected``), not exceptions. These exceptions
are for broken set-up and broken processes: each says how to fix the problem, and carries a
``retriable`` flag so callers can decide between retrying and giving up.
"""

from __future__ import annotations


class NewsflowError(Exception):
    """Base class of every error newsflow raises on purpose."""

    retriable: bool = False


class ConfigurationError(NewsflowError):
    """A setting or an installed resource is wrong or missing; fix the configuration."""


class SchemaError(ConfigurationError):
    """A JSON Schema under schemas/ is missing or invalid."""


class KafkaSetupError(NewsflowError):
    """The local Kafka broker could not be resolved, formatted or started."""


class BrokerUnavailableError(NewsflowError):
    """The broker did not answer in time; usually transient."""

    retriable = True
