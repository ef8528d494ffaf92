"""Training losses: generic pieces shared by the methods (:mod:`.common`) and one module per method."""
