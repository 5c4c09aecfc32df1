"""care_bridge."""
