"""sorabot's platform-neutral core: models, validation, store, tracker, providers."""
