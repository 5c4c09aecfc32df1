"""The ``care-bridge`` command line."""
