"""Everything about reaching Model Studio: the network registry, probing, and the probe engine."""
