"""Talking to Kafka: topic administration, plain clients, replicated views, and the one
module that touches Faust and aiokafka internals (faustcompat)."""
