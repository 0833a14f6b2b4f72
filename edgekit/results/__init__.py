"""Profile results: the record every measurement, emulation and prediction produces, its files and report tables."""
