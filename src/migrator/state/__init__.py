"""The state migrator keeps in the target database: schema `migrator`."""
