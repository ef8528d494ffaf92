from samfuse.models.sage import teacher as _teacher  # noqa: F401  (registers sage-teacher)
