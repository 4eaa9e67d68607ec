"""Template tags of the charging app: ``operations`` (the operations dashboard on the admin home page)."""
