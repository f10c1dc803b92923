"""newsflow: a streaming news-processing worker (cleaning, dedup, entity tagging) on Kafka."""

__version__ = "0.1.0"
