"""Stage 5, serving: the TorchServe archive, the server's life cycle, and what ships inside the
archive and the server (handler.py, model.py, config.properties, log4j2.xml)."""
