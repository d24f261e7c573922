"""People who sign in, their roles (what each may do) and their API tokens."""
