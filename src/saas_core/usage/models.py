"""Tables of usage."""
