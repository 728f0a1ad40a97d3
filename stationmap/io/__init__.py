"""Reading and writing station files (importers, exporters) and the sample-data generator."""
