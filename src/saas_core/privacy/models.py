"""Tables of privacy."""
