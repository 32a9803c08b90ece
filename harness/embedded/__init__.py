"""The embedded world's own models: the teacher, the judge and the shared editor initialisation, trained, cached, probed and shipped here; the framework reaches them through the registry."""
