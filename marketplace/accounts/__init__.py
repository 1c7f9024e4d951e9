"""Users, roles, passwords, API tokens, login and logout."""
