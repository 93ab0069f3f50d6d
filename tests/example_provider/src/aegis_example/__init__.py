"""A minimal third-party aegis provider: the example of the plugin author guide."""
