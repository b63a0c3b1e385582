"""Tables of iam."""
