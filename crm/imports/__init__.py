"""The import wizard: upload a sign-up sheet, map its columns, watch it run."""
