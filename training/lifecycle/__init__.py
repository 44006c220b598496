"""The model lifecycle: select what to label, retrain, gate, register and read feedback."""
