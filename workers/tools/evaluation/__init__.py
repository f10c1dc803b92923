"""Offline scoring of the stages on labelled files (newsflow eval ...)."""
