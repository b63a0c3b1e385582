"""Tables of credits."""
