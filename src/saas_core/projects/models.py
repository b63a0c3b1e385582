"""Tables of projects."""
