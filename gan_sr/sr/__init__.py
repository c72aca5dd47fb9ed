"""Super-resolution methods: one file per paper, one registry."""
