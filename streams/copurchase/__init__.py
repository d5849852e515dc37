"""Co-purchase graph: which products are bought together, decayed over event time."""
