"""Portal views, one module per area; ``auth`` holds sign-in, passwords and the organization switcher."""
