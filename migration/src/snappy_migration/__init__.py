"""The strangler fig: which component serves which route in each phase, and the edge."""
