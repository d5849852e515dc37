"""The batch runtime: what every agent's batch goes through between Kafka and the domains."""
