"""Stage 2, training: the LightningModule, the freeze-then-unfreeze callback, the report's
two-phase recipe, and the run directory it writes."""
